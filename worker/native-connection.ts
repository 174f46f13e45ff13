import type { Socket } from 'node:net';
import { PorticoError, isPorticoError } from '../common/errors.js';
import type { PacketHead } from '../protocol/packet-decoder.js';
import {
  CURRENT_HEAD_VERSION, FrameDecoder, FrameType, LINK_VERSION_STREAMS, acceptHello, agreedLinkVersion, decodeRequestHead,
  encodeHelloRefusal, parseHelloVars, type Hello, type NativeRequestHead,
} from '../protocol/native/index.js';
import { Exchange } from './exchange.js';
import { nativeResponseSink } from './native-response-sink.js';
import { logRequest } from './request-log.js';
import { runExchange } from './run-exchange.js';
import { WorkerStreamLink } from './stream-link.js';
import type { WorkerContext } from './worker-context.js';

/**
 * Serves a native link (docs/protocol.md) on a socket whose first packet was a HELLO: answer
 * HELLO_ACK, then (version 2) streams in WorkerStreamLink, or (version 1) one request at a time in frames, for as long as the gateway keeps it open.
 * A request is over once the gateway has sent its terminal frame (REQUEST_END or REQUEST_ABORT)
 * and the worker its own (RESPONSE_END or RESPONSE_ABORT); only then may the next head come.
 */
export function serveNativeLink(socket: Socket, ctx: WorkerContext, packet: PacketHead): void {
  let hello: Hello;
  try {
    hello = parseHelloVars(packet.vars);
    socket.write(acceptHello(hello, CURRENT_HEAD_VERSION, LINK_VERSION_STREAMS));
  } catch (err) {
    if (!isPorticoError(err)) throw err;
    ctx.log.error(err.code, `${err.message} (peer ${peerName(socket)})`);
    socket.end(encodeHelloRefusal(err));
    return;
  }
  // A gateway that offers streams gets them; an older one, one request at a time (below).
  if (agreedLinkVersion(hello, LINK_VERSION_STREAMS) === LINK_VERSION_STREAMS) {
    new WorkerStreamLink(socket, ctx);
    return;
  }

  let ex: Exchange | null = null;
  /** The gateway has not yet sent the current request's terminal frame. */
  let requestOpen = false;
  /** CONTENT_LENGTH 0 said there is no body: the exchange ended it already. */
  let noBody = false;

  const responseOver = (): boolean => ex === null || ex.finished || ex.aborted;
  const finish = (): void => {
    ctx.inFlight--;
    if (ex) logRequest(ctx, ex);
    if (ctx.inFlight === 0 && ctx.onIdle) ctx.onIdle();
    // An app that answered without reading its body may have left the socket paused: the rest
    // of that body is discarded below, and the next request must be read.
    socket.resume();
    if (!requestOpen) ex = null;
  };

  const onHead = (payload: Buffer): void => {
    if (ex) return fail(new PorticoError('PORTICO_ERR_NATIVE_BAD_FRAME', 'REQUEST_HEAD before the previous response ended'));
    let req: NativeRequestHead;
    try {
      req = decodeRequestHead(payload);
    } catch (err) {
      if (!isPorticoError(err)) throw err;
      return fail(err);
    }
    // Unknown length is -1: the adapters treat only 0 as "no body", and REQUEST_END ends it.
    const contentLength = req.contentLength ?? -1;
    const head: PacketHead = { modifier1: 0, modifier2: 0, datasize: payload.length, vars: req.vars, contentLength };
    requestOpen = true;
    noBody = contentLength === 0;
    ctx.inFlight++;
    ctx.requests++;
    ex = new Exchange(head, socket, ctx, finish, nativeResponseSink);
    runExchange(ex, ctx);
  };

  const frames = new FrameDecoder({
    onFrame(type, payload) {
      switch (type) {
        case FrameType.RequestHead:
          onHead(payload);
          break;
        case FrameType.RequestBody:
          // Body frames are subarrays of the socket's chunk, never copied: safe to queue.
          if (!noBody && !responseOver()) ex!.pushBody(payload);
          break;
        case FrameType.RequestEnd:
          requestOpen = false;
          if (!ex) break;
          if (responseOver()) ex = null;
          else ex.endBody();
          break;
        case FrameType.RequestAbort:
          // Between requests it is a cancel that crossed our END on the wire: nothing to do.
          requestOpen = false;
          if (!ex) break;
          if (responseOver()) ex = null;
          else ex.abort(); // the app's signal fires; the sink answers RESPONSE_ABORT; finish() lets go
          break;
        default:
          break;
      }
    },
    onError: fail,
  }, { side: 'worker' });

  function fail(err: PorticoError): void {
    frames.stop();
    const where = ex && !responseOver() ? `${ex.method} ${ex.vars.get('REQUEST_URI') ?? ''}: ` : '';
    ctx.log.error(err.code, `${where}${err.message} (native link, peer ${peerName(socket)})`);
    if (ex && !responseOver()) ex.abort();
    socket.destroy();
  }

  socket.on('data', (chunk: Buffer) => frames.push(chunk));
  socket.on('end', () => {
    // Between requests this is the gateway closing an idle pooled connection: not an error.
    frames.end();
    if (!socket.destroyed) socket.end();
  });
  socket.on('close', () => {
    if (ex && !responseOver()) ex.abort();
  });
}

function peerName(socket: Socket): string {
  return socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : 'unix socket';
}
