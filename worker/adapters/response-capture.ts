import { EventEmitter } from 'node:events';
import { PorticoError } from '../../common/errors.js';
import { parseResponseHead } from '../../protocol/uwsgi/response-head-parser.js';
import type { Exchange } from '../exchange/exchange.js';
import { schemeFromVars } from './request-headers.js';

/**
 * The socket a ServerResponse (and its IncomingMessage) gets on the native link. Node's
 * OutgoingMessage serializes the response as HTTP/1.1 bytes onto `socket.write()`; this stand-in
 * takes those bytes apart again: the head (which Node may send in the same write as the first
 * body bytes) is parsed and goes out through `ex.writeHead`, every later byte is body and goes
 * through `ex.write`, whose false is this write's false; 'drain' follows the link's 'drain'.
 * Chunked encoding must be off on the response (the bytes after the head are taken as they are).
 *
 * destroy() never touches the link: it only closes this stand-in (the response gets its 'close'),
 * and the adapter decides what the Exchange makes of a response that closed before it finished.
 */
export class ResponseCapture extends EventEmitter {
  /** Set by ServerResponse.assignSocket; Node writes only while it is its response. */
  _httpMessage: unknown = null;
  destroyed = false;
  writable = true;
  /** Node's http code reads it: a 'finish' after a failed write is not sent. */
  _hadError = false;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  /** Behind TLS (the vars say https): Express's req.secure and the like ask the socket. */
  readonly encrypted: boolean;
  /** The head has been handed to the Exchange; everything written now is body. */
  headDone = false;
  /** A write error (an invalid head) that must fail the response. */
  error: unknown = null;
  private pending: Buffer | null = null;
  /** OutgoingMessage.end() sets `_writableState.corked = 1` before its last uncork(). */
  readonly _writableState = { corked: 0 };
  /** The request is read from the Exchange's body stream, never from here. */
  readonly _paused = false;
  private waitingDrain = false;
  private readonly ex: Exchange;

  constructor(ex: Exchange) {
    super();
    this.ex = ex;
    this.remoteAddress = ex.vars.get('REMOTE_ADDR') ?? undefined;
    this.remotePort = Number(ex.vars.get('REMOTE_PORT')) || undefined;
    this.encrypted = schemeFromVars(ex.vars) === 'https';
  }

  /** Readable while open, as a socket is: on-finished (Express's body parsers) takes a socket that is not for a finished request. */
  get readable(): boolean {
    return !this.destroyed;
  }

  get writableCorked(): number {
    return this._writableState.corked;
  }

  get writableLength(): number {
    return this.ex.socket.writableLength;
  }

  get writableHighWaterMark(): number {
    return this.ex.socket.writableHighWaterMark;
  }

  get writableNeedDrain(): boolean {
    return this.waitingDrain;
  }

  get readableHighWaterMark(): number {
    return this.ex.socket.readableHighWaterMark;
  }

  get bytesWritten(): number {
    return this.ex.bodyBytes + this.ex.headersBytes;
  }

  cork(): void {
    this._writableState.corked++;
  }

  uncork(): void {
    if (this._writableState.corked > 0) this._writableState.corked--;
  }

  write(data: string | Uint8Array, encoding?: BufferEncoding | ((err?: Error | null) => void), cb?: (err?: Error | null) => void): boolean {
    if (typeof encoding === 'function') {
      cb = encoding;
      encoding = undefined;
    }
    let ok = true;
    if (!this.destroyed) {
      try {
        ok = this.take(typeof data === 'string' ? Buffer.from(data, encoding ?? 'utf8') : data);
      } catch (err) {
        this.error = err;
        this.destroy();
        ok = false;
      }
    }
    if (cb) process.nextTick(cb, this.destroyed && this.error ? (this.error as Error) : null);
    return ok;
  }

  end(data?: unknown, encoding?: unknown, cb?: unknown): this {
    if (typeof data === 'function') cb = data;
    else if (data !== undefined && data !== null) this.write(data as Buffer, encoding as BufferEncoding);
    if (typeof encoding === 'function') cb = encoding;
    if (typeof cb === 'function') process.nextTick(cb as () => void);
    this.writable = false;
    return this;
  }

  destroy(err?: Error): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.writable = false;
    if (err && !this.error) this.error = err;
    if (this.error) this._hadError = true;
    process.nextTick(() => this.emit('close', Boolean(err)));
    return this;
  }

  destroySoon(): void {
    this.destroy();
  }

  /** Called once the response has finished: closes the stand-in without a 'close' to the response. */
  release(): void {
    this.destroyed = true;
    this.writable = false;
  }

  setTimeout(_ms: number, cb?: () => void): this {
    if (cb) this.once('timeout', cb);
    return this;
  }

  address(): object {
    return {};
  }

  private take(chunk: Uint8Array): boolean {
    const ex = this.ex;
    if (this.headDone) return ex.write(chunk) || this.waitForDrain();
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    const head = parseResponseHead(buf);
    if (!head) {
      this.pending = Buffer.from(buf); // a copy: the caller may reuse its buffer
      return true;
    }
    this.pending = null;
    this.headDone = true;
    const flat: string[] = [];
    for (const [name, value] of head.headers) {
      // The body after this head is taken as it is: chunks framed by Node would reach the client
      // as body bytes (the node adapter keeps Node from chunking; this guards the rule).
      if (name.length === 17 && name.toLowerCase() === 'transfer-encoding' && /chunked/i.test(value)) {
        throw new PorticoError('PORTICO_ERR_INVALID_HEADER', 'a node app chunked its own response on the native link');
      }
      // Hop-by-hop headers (Node's own Connection: close among them) go in Exchange.writeHead.
      flat.push(name, value);
    }
    const rest = buf.subarray(head.size);
    ex.writeHead(head.status, head.statusText || undefined, flat, rest.length > 0 ? rest : undefined);
    if (ex.socket.writableNeedDrain) return this.waitForDrain();
    return true;
  }

  private waitForDrain(): false {
    if (!this.waitingDrain) {
      this.waitingDrain = true;
      const socket = this.ex.socket;
      const done = (): void => {
        socket.off('drain', done);
        socket.off('close', done);
        this.waitingDrain = false;
        if (!this.destroyed) this.emit('drain');
      };
      socket.on('drain', done);
      socket.on('close', done);
    }
    return false;
  }
}

// A socket's knobs Node's http code and apps turn; a stand-in has none. (The request is read from
// the Exchange's body stream, so pause and resume have nothing to do either.)
for (const name of ['setNoDelay', 'setKeepAlive', 'ref', 'unref', 'pause', 'resume']) {
  Object.defineProperty(ResponseCapture.prototype, name, { value: returnThis, writable: true, configurable: true });
}
function returnThis<T>(this: T): T {
  return this;
}
