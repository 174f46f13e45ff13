import type { Socket } from 'node:net';
import { PacketDecoder, type PacketHead } from '../protocol/packet-decoder.js';
import type { PorticoError } from '../common/errors.js';
import { Exchange } from './exchange.js';
import { logRequest } from './request-log.js';
import type { WorkerContext } from './worker-context.js';

/**
 * Serves one uwsgi connection: decode the packet, run the app, close. uWSGI's modifier1 0 carries
 * exactly one request per connection and the response is delimited by the close.
 */
export function serveConnection(socket: Socket, ctx: WorkerContext): void {
  let ex: Exchange | null = null;
  // Once the response is over and the whole request has been read, the connection only waits for
  // nginx to close it (most of its life): let the exchange and all it holds go now, not at the close.
  const release = (): void => {
    if (ex && (ex.finished || ex.aborted) && decoder.done) ex = null;
  };
  const finish = (): void => {
    ctx.inFlight--;
    if (ex) logRequest(ctx, ex);
    if (ctx.inFlight === 0 && ctx.onIdle) ctx.onIdle();
    release();
  };
  const decoder = new PacketDecoder({
    onHead(head: PacketHead) {
      ctx.inFlight++;
      ctx.requests++;
      ex = new Exchange(head, socket, ctx, finish);
      run(ex, ctx);
    },
    onBody(chunk) {
      ex!.pushBody(chunk);
    },
    onEnd() {
      ex!.endBody();
      release();
    },
    onError(err: PorticoError) {
      if (ex?.finished) {
        // The app answered without reading all of the body and the peer then hung up: nothing lost.
        socket.destroy();
        return;
      }
      if (ex) {
        // The body was cut short: the app's body stream must see it, and no response can follow.
        ctx.log.error(err.code, `${ex.method} ${ex.vars.get('REQUEST_URI') ?? ''}: ${err.message}`);
        ex.abort();
      } else {
        ctx.log.error(err.code, `${err.message} (peer ${peerName(socket)})`);
      }
      socket.destroy();
    },
  }, { bufferSize: ctx.bufferSize });

  socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  socket.on('end', () => {
    decoder.end();
    // nginx keeps its side open until the response is complete, so EOF while the app is still
    // working means the client went away: abort now rather than at the next failed write.
    if (ex && !ex.finished) ex.abort();
    if (!ex && decoder.idle) socket.end();
  });
  socket.on('error', () => {
    // ECONNRESET or EPIPE from a client that went away: handled by 'close' below.
  });
  socket.on('close', () => {
    if (ex && !ex.finished) ex.abort();
  });
}

/**
 * Runs the handler; what it throws or rejects with fails the exchange. Not an async function: most
 * handlers finish synchronously, and one promise less per request is measurable.
 */
function run(ex: Exchange, ctx: WorkerContext): void {
  let out: void | Promise<void>;
  try {
    out = ctx.handler(ex);
  } catch (err) {
    failOrReject(ex, err);
    return;
  }
  if (out) void Promise.resolve(out).then(undefined, (err: unknown) => ex.fail(err));
}

/** fail() at once, and if fail() itself throws, an unhandled rejection (as from an async run) rather than a throw into 'data'. */
function failOrReject(ex: Exchange, err: unknown): void {
  try {
    ex.fail(err);
  } catch (e) {
    void Promise.reject(e);
  }
}

function peerName(socket: Socket): string {
  return socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : 'unix socket';
}
