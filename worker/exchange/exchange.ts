import { Socket } from 'node:net';
import { Readable, type Duplex } from 'node:stream';
import { PorticoError, isPorticoError } from '../../common/errors.js';
import { CLIENT_CLOSED } from '../../common/request-metrics.js';
import type { PacketHead } from '../../protocol/uwsgi/packet-decoder.js';
import type { UwsgiVars } from '../../protocol/uwsgi/uwsgi-vars.js';
import { httpResponseSink } from '../uwsgi/uwsgi-response-sink.js';
import { linkHeaders } from './response-head.js';
import { declaredContentLength, statusHasNoBody } from '../../protocol/http/http-response.js';
import { isWebSocketUpgrade } from '../../protocol/http/upgrade.js';
import type { ResponseSink } from './response-sink.js';
import type { ExchangeSocket } from './exchange-socket.js';
import type { WorkerContext } from '../worker-context.js';

/**
 * One request and its response, on a uwsgi connection or a native link. Adapters read the vars and
 * body from it and write the response through it; the sink puts the response on the wire in the
 * link's format. It keeps what the request log needs and guarantees the rules every app kind and
 * link share: headers validated, 500 before the head, an incomplete response after it.
 */
/** A WebSocket close frame from a server: FIN + close, 2 bytes of payload, code 1001. */
const GOING_AWAY = Buffer.from([0x88, 0x02, 0x03, 0xe9]);

/** Body bytes a worker holds for an app that has not asked for its body yet. */
const BODY_QUEUE_MAX = 64 * 1024;

export class Exchange {
  readonly head: PacketHead;
  readonly vars: UwsgiVars;
  readonly socket: ExchangeSocket;
  readonly ctx: WorkerContext;
  readonly sink: ResponseSink;
  readonly startedAt = Date.now();
  private readonly startHr = process.hrtime.bigint();
  status = 0;
  headSent = false;
  /**
   * The uwsgi connection is the client's own (an upgrade handed over by `portico serve`), not
   * nginx's: a response the worker writes on it says the connection closes after it.
   */
  clientConnection = false;
  finished = false;
  aborted = false;
  bodyBytes = 0;
  headersCount = 0;
  headersBytes = 0;
  /** Writes of the response to the link (the head, with or without a body, and each body chunk). */
  writes = 0;
  /** The request body as a stream, created on first use (most GETs never ask). */
  private bodyStream: Readable | null = null;
  private bodyQueue: Buffer[] | null = null;
  private queuedBytes = 0;
  private bodyEnded: boolean;
  private abortController: AbortController | null = null;
  private abortListeners: Array<() => void> | null = null;
  private onFinish: (() => void) | null = null;
  /** Scoreboard slot (-1: not tracked). */
  private readonly slot: number;
  /**
   * The body length the app's head declared (-1: none). No byte past it leaves: on a kept-alive
   * client connection it would be read as the start of a second, forged response.
   */
  private declaredLength = -1;
  /**
   * For an upgrade the app takes: a uwsgi connection (one request, then the close) lets go of its
   * socket and returns it; a native-link stream returns a tunnel over its frames
   * (worker/link/tunnel-socket.ts).
   */
  takeOverHook: ((ex: Exchange) => Duplex) | null = null;
  /** The app has the connection (takeOver): the request ends when the connection closes. */
  private takenOver = false;
  private upgradedSocket: Duplex | null = null;

  constructor(head: PacketHead, socket: ExchangeSocket, ctx: WorkerContext, onFinish: () => void, sink: ResponseSink = httpResponseSink) {
    this.head = head;
    this.vars = head.vars;
    this.socket = socket;
    this.ctx = ctx;
    this.sink = sink;
    this.bodyEnded = head.contentLength === 0;
    this.onFinish = onFinish;
    this.slot = ctx.scoreboard ? ctx.scoreboard.begin(this.method, this.vars.get('REQUEST_URI') ?? '') : -1;
  }

  /**
   * The net.Socket under a uwsgi request, for the sinks and adapters that write bytes to it. A
   * native-link stream has none; its sink never asks.
   */
  get conn(): Socket {
    return this.socketAs(Socket);
  }

  /** The connection as the class its link's sink writes to; a TypeError for another link's. */
  socketAs<T>(kind: abstract new (...args: never[]) => T): T {
    if (this.socket instanceof kind) return this.socket;
    throw new TypeError(`this request's connection is not a ${kind.name}`);
  }

  get method(): string {
    return this.vars.get('REQUEST_METHOD') ?? 'GET';
  }

  /** A WebSocket handshake (protocol/http/upgrade.ts). */
  get isWebSocketUpgrade(): boolean {
    // Most requests have no Upgrade: one scan of the vars for them.
    const upgrade = this.vars.get('HTTP_UPGRADE');
    return upgrade !== undefined && isWebSocketUpgrade(this.vars.get('HTTP_CONNECTION'), upgrade);
  }

  get canTakeOver(): boolean {
    return this.takeOverHook !== null;
  }

  /**
   * The app takes the connection for an upgrade: its own answer (a 101, or a refusal) and then the
   * new protocol's bytes both ways pass through the uwsgi connection untouched, as with uWSGI
   * behind nginx. The request stays in flight until the connection closes (a graceful stop waits
   * for it, up to --graceful-timeout), but leaves the scoreboard now: harakiri is for requests,
   * not for a WebSocket idle by design. `status`: what the app answered, once it is known.
   */
  takeOver(): Duplex {
    const socket = this.takeOverHook!(this);
    this.takeOverHook = null;
    this.takenOver = true;
    this.headSent = true;
    this.ctx.scoreboard?.end(this.slot, this.durationMs, 101, 0);
    this.upgradedSocket = socket;
    this.ctx.upgraded.add(this);
    this.ctx.scoreboard?.upgraded(1);
    socket.once('close', () => {
      this.ctx.upgraded.delete(this);
      this.ctx.scoreboard?.upgraded(-1);
      this.upgradedSocket = null;
      if (this.finished || this.aborted) return;
      this.finished = true;
      this.complete();
    });
    return socket;
  }

  /**
   * The worker stops and its graceful timeout has passed with this connection still open: a
   * WebSocket the app accepted gets a close frame with 1001 "going away" (RFC 6455 §7.4.1, the
   * server's frames are unmasked) and the end of the connection, so its client knows to reconnect.
   * Written between the app's writes, which are whole frames.
   */
  goingAway(): void {
    const socket = this.upgradedSocket;
    if (socket === null || !socket.writable) return;
    if (this.status === 101 && this.isWebSocketUpgrade) socket.write(GOING_AWAY);
    socket.end();
  }

  get isHead(): boolean {
    return this.method === 'HEAD';
  }

  get signal(): AbortSignal {
    if (!this.abortController) {
      this.abortController = new AbortController();
      if (this.aborted) this.abortController.abort(abortError());
    }
    return this.abortController.signal;
  }

  onAbort(listener: () => void): void {
    (this.abortListeners ??= []).push(listener);
  }

  /**
   * Body bytes from the decoder. Queued until an adapter asks for the stream, but only up to
   * BODY_QUEUE_MAX: past that the socket pauses until the app reads, so an upload to an app that
   * never asks for its body cannot fill the worker's memory. After the response nobody reads
   * them: they are dropped.
   */
  pushBody(chunk: Buffer): void {
    if (this.finished || this.aborted) return;
    if (this.bodyStream) {
      if (!this.bodyStream.push(chunk)) this.socket.pause();
    } else {
      (this.bodyQueue ??= []).push(chunk);
      this.queuedBytes += chunk.length;
      if (this.queuedBytes > BODY_QUEUE_MAX) this.socket.pause();
    }
  }

  endBody(): void {
    this.bodyEnded = true;
    this.bodyStream?.push(null);
  }

  /** The body as a Readable with backpressure: a slow consumer pauses the socket. */
  body(): Readable {
    if (this.bodyStream) return this.bodyStream;
    const socket = this.socket;
    const stream = new Readable({ read: () => socket.resume() });
    this.bodyStream = stream;
    if (this.bodyQueue) for (const c of this.bodyQueue) stream.push(c);
    this.bodyQueue = null;
    if (this.bodyEnded) stream.push(null);
    return stream;
  }

  /**
   * Validates and sends the head (with the whole body, when `body` is given). Throws a coded
   * error before anything is written: PORTICO_ERR_INVALID_HEADER, PORTICO_ERR_INVALID_STATUS, or
   * PORTICO_ERR_BODY_LENGTH for a body that is not as long as its Content-Length says.
   */
  writeHead(status: number, statusText: string | undefined, headers: readonly string[], body?: Buffer | string): void {
    // After an abort the link has had its terminal frame: nothing more may follow for this request.
    if (this.aborted) return;
    const declared = declaredContentLength(headers);
    if (Number.isNaN(declared)) throw new PorticoError('PORTICO_ERR_INVALID_HEADER', 'Content-Length is not one decimal number');
    const sendsBody = body !== undefined && !this.isHead && !statusHasNoBody(status);
    const size = sendsBody ? (typeof body === 'string' ? Buffer.byteLength(body) : body.length) : 0;
    if (declared >= 0 && sendsBody && size !== declared) throw new PorticoError('PORTICO_ERR_BODY_LENGTH', `a body of ${size} bytes under Content-Length ${declared}`);
    this.declaredLength = declared;
    this.writes++;
    const headBytes = this.sink.writeHead(this, status, statusText, linkHeaders(headers), size > 0 ? body : undefined);
    this.headWritten(status, headers.length >> 1, headBytes);
    this.bodyBytes += size;
  }

  /** The head is out (through the sink, or written by the app itself): what the request log says of it. */
  headWritten(status: number, headersCount: number, headersBytes: number): void {
    this.status = status;
    this.headSent = true;
    this.headersCount = headersCount;
    this.headersBytes = headersBytes;
  }

  /** Writes a body chunk; resolves when the socket can take more (backpressure). */
  write(chunk: Uint8Array): boolean {
    if (this.finished || this.aborted || chunk.length === 0) return true;
    if (this.isHead || statusHasNoBody(this.status)) return true;
    if (this.declaredLength >= 0 && this.bodyBytes + chunk.length > this.declaredLength) return this.overrun(chunk);
    this.bodyBytes += chunk.length;
    this.writes++;
    return this.sink.write(this, chunk);
  }

  /**
   * The app wrote past its Content-Length: what fits goes out and ends the response, which then
   * is what its head promised; the rest, and whatever the app writes after, never leaves.
   */
  private overrun(chunk: Uint8Array): boolean {
    const room = this.declaredLength - this.bodyBytes;
    if (room > 0) {
      this.bodyBytes += room;
      this.sink.write(this, chunk.subarray(0, room));
    }
    this.ctx.scoreboard?.exception();
    this.ctx.log.error(
      'PORTICO_ERR_BODY_LENGTH',
      `${this.method} ${this.vars.get('REQUEST_URI') ?? ''}: ${new PorticoError('PORTICO_ERR_BODY_LENGTH').message}: the app wrote past its Content-Length ${this.declaredLength}; the body was cut there`,
    );
    this.end();
    return true;
  }

  /** Waits for 'drain' or for the connection to go away, whichever comes first. */
  drained(): Promise<void> {
    if (this.aborted || !this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.once('drain', done);
      this.socket.once('close', done);
    });
  }

  /** The response is complete: on the uwsgi link the close delimits the body, as in uWSGI. */
  end(): void {
    if (this.finished) return;
    this.finished = true;
    // An adapter may still call end() after an abort; the abort already ended the response.
    if (!this.aborted) this.sink.end(this);
    this.complete();
  }

  /**
   * The app failed. Before the head: a 500 the client can read. After it: the connection is cut
   * (uwsgi) or the response aborted (native), so no proxy takes a truncated body for a complete one.
   */
  fail(err: unknown): void {
    const perr = isPorticoError(err) ? err : new PorticoError('PORTICO_ERR_APP_EXCEPTION', undefined, { cause: err });
    this.ctx.scoreboard?.exception();
    const stack = err instanceof Error ? err.stack : String(err);
    const where = `${this.method} ${this.vars.get('REQUEST_URI') ?? ''}`;
    if (this.finished || this.aborted) {
      // An app that dies of the abort itself (its body stream closed under it, its signal fired)
      // says nothing new: the abort's cause (client gone, a cut or malformed body) was logged.
      if (this.aborted && !this.headSent && diedOfAbort(err)) return;
      this.ctx.log.error(perr.code, `${where}: after the response ended: ${stack}`);
      return;
    }
    if (!this.headSent) {
      this.ctx.log.error(perr.code, `${where}: ${perr.code === 'PORTICO_ERR_APP_EXCEPTION' ? stack : perr.message}`);
      const body = `${perr.status} ${perr.status === 500 ? 'Internal Server Error' : 'Error'}\n`;
      this.writeHead(perr.status, undefined, ['Content-Type', 'text/plain', 'Content-Length', String(body.length)], body);
      this.end();
      return;
    }
    const what = this.sink.link === 'uwsgi' ? 'connection cut' : 'response aborted';
    this.ctx.log.error(perr.code, `${where}: failed after the head was sent, ${what}: ${perr.code === 'PORTICO_ERR_APP_EXCEPTION' ? stack : perr.message}`);
    this.finished = true;
    this.sink.cut(this, perr.code);
    this.complete();
  }

  /** The peer went away before the response was complete. */
  abort(): void {
    if (this.finished || this.aborted) return;
    this.aborted = true;
    this.abortController?.abort(abortError());
    if (this.abortListeners) for (const l of this.abortListeners) l();
    this.bodyStream?.destroy();
    this.sink.abort(this);
    this.complete();
  }

  /** Also calls `fn` once the request is over (--otel: the end of its span). */
  whenDone(fn: () => void): void {
    const next = this.onFinish;
    if (next === null) return fn();
    this.onFinish = () => {
      fn();
      next();
    };
  }

  get durationMs(): number {
    return Number(process.hrtime.bigint() - this.startHr) / 1e6;
  }

  private complete(): void {
    const cb = this.onFinish;
    if (!cb) return;
    this.onFinish = null;
    if (!this.takenOver) this.ctx.scoreboard?.end(this.slot, this.durationMs, this.aborted && !this.headSent ? CLIENT_CLOSED : this.status, this.headersBytes + this.bodyBytes);
    cb();
  }
}

/** The body stream's premature close or the signal's abort, maybe wrapped (web streams, fetch) once or twice. */
function diedOfAbort(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 3; e = e.cause, depth++) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE' || e.name === 'AbortError') return true;
    if (isPorticoError(e) && e.code === 'PORTICO_ERR_CLIENT_ABORTED') return true;
  }
  return false;
}

function abortError(): Error {
  return new PorticoError('PORTICO_ERR_CLIENT_ABORTED');
}
