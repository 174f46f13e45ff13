import type { Socket } from 'node:net';
import { PacketDecoder, type PacketHead } from '../../protocol/uwsgi/packet-decoder.js';
import { PorticoError } from '../../common/errors.js';
import { Exchange } from '../exchange/exchange.js';
import { NATIVE_MODIFIER1 } from '../../protocol/link/constants.js';
import type { serveNativeLink as ServeNativeLink } from '../link/link-hello.js';
import { logRequest } from '../exchange/request-log.js';
import { runExchange } from '../exchange/run-exchange.js';
import type { WorkerContext } from '../worker-context.js';

/**
 * The native link (and avsc, its head codec: about 10 MB of a process's memory) is loaded at the
 * first HELLO: a worker behind nginx never needs it. Under serve the worker loads it at start.
 */
let nativeLink: typeof ServeNativeLink | null = null;

export async function loadNativeLink(): Promise<typeof ServeNativeLink> {
  return (nativeLink ??= (await import('../link/link-hello.js')).serveNativeLink);
}

/** Hands a socket whose first packet was a HELLO to the native link, loading it first if need be. */
function startNativeLink(socket: Socket, ctx: WorkerContext, head: PacketHead): void {
  if (nativeLink) return nativeLink(socket, ctx, head);
  // Nothing may be read (and lost) until the link listens.
  socket.pause();
  loadNativeLink().then(
    (serve) => {
      if (socket.destroyed) return;
      serve(socket, ctx, head);
      socket.resume();
    },
    (err: unknown) => {
      ctx.log.error('PORTICO_ERR_NATIVE_HANDSHAKE', `cannot load the native link: ${err instanceof Error ? err.message : String(err)}`);
      socket.destroy();
    },
  );
}

/** modifier1 0 is nginx's request; 77 is the native link's HELLO (docs/protocol.md). */
const MODIFIERS: ReadonlySet<number> = new Set([0, NATIVE_MODIFIER1]);

/**
 * An upgrade's client connection handed over by `portico serve`'s gateway (UpgradeHandOff): the
 * request as a uwsgi packet, and the client's bytes the gateway read after its head.
 */
export interface HandedUpgrade {
  packet: Buffer;
  rest: Buffer;
}

/**
 * Serves one connection of the worker's socket. A uwsgi packet (modifier1 0): decode it, run the
 * app, close; uWSGI's modifier1 0 carries exactly one request per connection and the response is
 * delimited by the close. A HELLO (modifier1 77) hands the socket to the native link instead.
 * `handed`: a client's connection the gateway passed on, its packet read already.
 */
export function serveConnection(socket: Socket, ctx: WorkerContext, handed?: HandedUpgrade): void {
  let ex: Exchange | null = null;
  /**
   * Set while a chunked request (no CONTENT_LENGTH, uWSGI's HTTP router) waits for its body's first
   * bytes: its app starts with them. Without --http-raw-body the router announces a chunked body
   * and never sends it; an app started at once would read an empty body and answer 200.
   */
  let bodyWait: NodeJS.Timeout | null = null;
  const startApp = (): void => {
    if (bodyWait === null) return;
    stopWaiting();
    if (ex && !ex.finished && !ex.aborted) runExchange(ex, ctx);
  };
  const noChunkedBody = (): void => {
    bodyWait = null;
    if (!ex || ex.finished || ex.aborted) return;
    decoder.abandon();
    ex.fail(
      new PorticoError(
        'PORTICO_ERR_CHUNKED_BODY_MISSING',
        `not a byte of it in ${ctx.chunkedInputTimeoutMs / 1000} s; ` + "behind uWSGI's HTTP router, add --http-raw-body to the router's options: without it the router sends no chunked body",
      ),
    );
  };
  const stopWaiting = (): void => {
    if (bodyWait !== null) clearTimeout(bodyWait);
    bodyWait = null;
  };
  // Once the response is over and the whole request has been read, the connection only waits for
  // nginx to close it (most of its life): let the exchange and all it holds go now, not at the close.
  const release = (): void => {
    if (ex && (ex.finished || ex.aborted) && decoder.done) ex = null;
  };
  const finish = (): void => {
    ctx.inFlight--;
    ctx.onSettled?.(socket);
    // The app answered without reading all of its body (which may have paused the socket): read
    // on, so the rest is dropped and nginx's close is seen.
    socket.resume();
    if (ex) logRequest(ctx, ex);
    if (ctx.inFlight === 0 && ctx.onIdle) ctx.onIdle();
    release();
  };
  /** The socket is no longer this connection's to read: the native link's, or an upgrade's. */
  const letGo = (): void => {
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('close', onClose);
  };
  // An upgrade the app takes: the socket is the app's from here on (see Exchange.takeOver).
  const takeOver = (): Socket => {
    stopWaiting();
    decoder.abandon();
    letGo();
    // The client's first bytes of the new protocol, read by the gateway: the app reads them first.
    if (handed !== undefined && handed.rest.length > 0) socket.unshift(handed.rest);
    return socket;
  };
  const decoder = new PacketDecoder(
    {
      onHead(head: PacketHead) {
        if (head.modifier1 === NATIVE_MODIFIER1) {
          // From here on the bytes are frames: the link takes the socket.
          letGo();
          ctx.onSettled?.(socket);
          startNativeLink(socket, ctx, head);
          return;
        }
        ctx.inFlight++;
        ctx.requests++;
        ex = new Exchange(head, socket, ctx, finish);
        ex.takeOverHook = takeOver;
        ex.clientConnection = handed !== undefined;
        if (head.contentLength === -1) bodyWait = setTimeout(noChunkedBody, ctx.chunkedInputTimeoutMs);
        else runExchange(ex, ctx);
      },
      onChunkedStart: startApp,
      onBody(chunk) {
        // No exchange: a HELLO whose CONTENT_LENGTH claims a body. The link owns the socket now and
        // the bytes are no request's; pushing them to a missing exchange crashed the whole worker.
        if (!ex) return;
        ex.pushBody(chunk);
      },
      onEnd() {
        if (!ex) return; // the HELLO's (empty) body
        ex.endBody();
        release();
      },
      onError(err: PorticoError) {
        stopWaiting();
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
    },
    { bufferSize: ctx.bufferSize, modifiers: MODIFIERS },
  );

  const onData = (chunk: Buffer): void => decoder.push(chunk);
  const onEnd = (): void => {
    decoder.end();
    // nginx keeps its side open until the response is complete, so EOF while the app is still
    // working means the client went away: abort now rather than at the next failed write.
    if (ex && !ex.finished) ex.abort();
    if (!ex && decoder.idle) socket.end();
  };
  const onClose = (): void => {
    stopWaiting();
    if (ex && !ex.finished) ex.abort();
  };
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('error', () => {
    // ECONNRESET or EPIPE from a client that went away: handled by 'close' below.
  });
  socket.on('close', onClose);
  // After the listeners: an app that takes the connection at once lets go of them.
  if (handed !== undefined) decoder.push(handed.packet);
}

function peerName(socket: Socket): string {
  return socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : 'unix socket';
}
