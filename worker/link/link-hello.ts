import type { Socket } from 'node:net';
import { isPorticoError } from '../../common/errors.js';
import type { PacketHead } from '../../protocol/uwsgi/packet-decoder.js';
import { acceptHello, encodeHelloRefusal, parseHelloVars } from '../../protocol/link/index.js';
import { WorkerStreamLink } from './link-server.js';
import type { WorkerContext } from '../worker-context.js';

/**
 * Serves a native link (docs/protocol.md) on a socket whose first packet was a HELLO: answer
 * HELLO_ACK, then streams in WorkerStreamLink for as long as the gateway keeps it open. A HELLO
 * this worker cannot accept (another link version, a schema the gateway cannot read) gets a
 * refusing HELLO_ACK carrying the error's code, and one log line here.
 */
export function serveNativeLink(socket: Socket, ctx: WorkerContext, packet: PacketHead): void {
  try {
    socket.write(acceptHello(parseHelloVars(packet.vars)));
  } catch (err) {
    if (!isPorticoError(err)) throw err;
    const peer = socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : 'unix socket';
    ctx.log.error(err.code, `${err.message} (peer ${peer})`);
    socket.end(encodeHelloRefusal(err));
    return;
  }
  new WorkerStreamLink(socket, ctx);
}
