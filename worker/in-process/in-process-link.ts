import type { PacketHead } from '../../protocol/uwsgi/packet-decoder.js';
import type { UwsgiVars } from '../../protocol/uwsgi/uwsgi-vars.js';
import { Exchange } from '../exchange/exchange.js';
import type { ExchangeSocket } from '../exchange/exchange-socket.js';
import { logRequest } from '../exchange/request-log.js';
import { validateHeaders } from '../exchange/response-head.js';
import type { ResponseSink } from '../exchange/response-sink.js';
import { runExchange } from '../exchange/run-exchange.js';
import type { WorkerContext } from '../worker-context.js';

/** What the in-process link reads of the client's request: the HTTP front's request object. */
export interface ClientRequest {
  /** Every body byte was read. */
  readonly complete: boolean;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

/** What it writes the response to: the HTTP front's response object, which frames it for the client. */
export interface ClientResponse {
  readonly destroyed: boolean;
  readonly writableFinished: boolean;
  writeHead(status: number, reason: string, headers: string[]): unknown;
  write(chunk: Buffer): boolean;
  end(chunk?: string | Buffer): unknown;
  destroy(): unknown;
  on(event: 'close' | 'drain', listener: () => void): unknown;
  once(event: 'close' | 'drain', listener: () => void): unknown;
  off(event: 'close' | 'drain', listener: () => void): unknown;
}

/**
 * The worker's third link, beside uwsgi and native: an HTTP front in the worker's own process
 * (`portico worker --http-socket`) hands each request over by a call, and the response goes
 * straight to the front's response object, which frames it for the client (keep-alive, chunked).
 * No bytes are encoded and decoded between the two: the vars are the front's, the body its stream.
 */
export function serveInProcess(ctx: WorkerContext, req: ClientRequest, res: ClientResponse, vars: UwsgiVars, hasBody: boolean): void {
  const length = hasBody ? vars.get('CONTENT_LENGTH') : '0';
  // Without a Content-Length (a chunked body) the length is unknown: -1, and 'end' ends the body.
  // datasize: what the request log says of the vars, as if they had come in a packet.
  const head: PacketHead = { modifier1: 0, modifier2: 0, datasize: ctx.log.logsRequests ? varsSize(vars) : 0, vars, contentLength: length ? Number(length) : -1 };
  const client = new ClientConnection(req, res);
  ctx.inFlight++;
  ctx.requests++;
  const ex = new Exchange(head, client, ctx, () => finish(ctx, ex, client), inProcessSink);
  client.exchange = ex;
  if (hasBody) {
    req.on('data', (chunk) => ex.pushBody(chunk));
    req.on('end', () => ex.endBody());
  }
  runExchange(ex, ctx);
  // Only an exchange still running can lose its client: one answered at once (most) leaves the
  // response without a listener, and its end schedules nothing more.
  if (!ex.finished) res.on('close', client.onClose);
}

function finish(ctx: WorkerContext, ex: Exchange, client: ClientConnection): void {
  // onClose, if on, stays: the response's 'close' after its end finds the exchange finished.
  ctx.inFlight--;
  logRequest(ctx, ex);
  // A body the app never read is read and dropped, so the front sees its end and keeps the connection.
  if (!client.req.complete) client.req.resume();
  if (ctx.inFlight === 0 && ctx.onIdle) ctx.onIdle();
}

/** The vars block's size in the uwsgi format: a 2-byte length before each key and each value. */
function varsSize(vars: UwsgiVars): number {
  let size = 0;
  for (const s of vars.flat) size += 2 + Buffer.byteLength(s);
  return size;
}

/**
 * The client's request and response, standing in for the socket an Exchange reads and writes:
 * pause()/resume() hold back the request's body, writableNeedDrain and 'drain' are the
 * response's backpressure, 'close' before the end is the client gone. Its events are the
 * response's own: no emitter of its own for a request to build.
 */
class ClientConnection implements ExchangeSocket {
  readonly req: ClientRequest;
  readonly res: ClientResponse;
  exchange: Exchange | null = null;
  /** The response was ended with its head (a whole body given at once). */
  ended = false;
  writableNeedDrain = false;
  readonly writableLength = 0;
  readonly writableHighWaterMark = 16 * 1024;
  readonly readableHighWaterMark = 16 * 1024;

  constructor(req: ClientRequest, res: ClientResponse) {
    this.req = req;
    this.res = res;
  }

  get destroyed(): boolean {
    return this.res.destroyed;
  }

  pause(): void {
    this.req.pause();
  }

  resume(): void {
    this.req.resume();
  }

  /**
   * The response's write said wait: 'drain' comes from it once the client took the bytes. The
   * listener goes on before any of the Exchange's, so the flag is down when those run.
   */
  waitForDrain(): void {
    if (this.writableNeedDrain) return;
    this.writableNeedDrain = true;
    this.res.once('drain', () => {
      this.writableNeedDrain = false;
    });
  }

  on(event: 'drain' | 'close', listener: () => void): void {
    this.res.on(event, listener);
  }

  once(event: 'drain' | 'close', listener: () => void): void {
    this.res.once(event, listener);
  }

  off(event: 'drain' | 'close', listener: () => void): void {
    this.res.off(event, listener);
  }

  readonly onClose = (): void => {
    const ex = this.exchange;
    if (ex !== null && !ex.finished && !this.res.writableFinished) ex.abort();
  };
}

function clientOf(ex: Exchange): ClientConnection {
  return ex.socketAs(ClientConnection);
}

/**
 * The response on the front's response object: the head as the app gave it (validated, hop-by-hop
 * headers gone, as for every sink), a whole body with it in one end(), or body chunks as they come.
 */
export const inProcessSink: ResponseSink = {
  link: 'in-process',

  writeHead(ex, status, statusText, headers, body) {
    const reason = validateHeaders(status, statusText, headers);
    const c = clientOf(ex);
    c.res.writeHead(status, reason, headers as string[]);
    if (body !== undefined) {
      c.ended = true;
      c.res.end(body);
    }
    // What the request log counts as the head: the status line and the headers as the app wrote them.
    let size = 15 + reason.length;
    for (let i = 0; i < headers.length; i++) size += headers[i]!.length + 2;
    return size;
  },

  write(ex, chunk) {
    const c = clientOf(ex);
    if (c.res.write(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))) return true;
    c.waitForDrain();
    return false;
  },

  end(ex) {
    const c = clientOf(ex);
    if (c.ended) return;
    c.ended = true;
    c.res.end();
  },

  cut(ex) {
    clientOf(ex).res.destroy();
  },

  abort(ex) {
    const res = clientOf(ex).res;
    if (!res.writableFinished) res.destroy();
  },
};
