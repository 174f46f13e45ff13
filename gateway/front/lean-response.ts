import { EventEmitter } from 'node:events';
import { STATUS_CODES, validateHeaderName, validateHeaderValue, type OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { ForwardedResponse } from '../forwarding/forward-types.js';
import { statusHasNoBody } from '../../protocol/http/http-response.js';

/** A body up to this size is copied behind its head into one buffer (see write). */
const COMBINE_LIMIT = 4096;

/** The connection a LeanResponse is written to (a LeanConnection). */
export interface ResponseOwner {
  readonly socket: Socket;
  /** `Keep-Alive: timeout=N\r\n`, as node:http sends it, or ''. */
  readonly keepAliveLine: string;
  /** May the connection stay open after this response (the server is not closing)? */
  mayKeepAlive(): boolean;
  /** The response is complete on the socket (keep: the connection stays open for the next request). */
  responseDone(res: LeanResponse, keep: boolean): void;
}

/**
 * A response written straight to the client's socket, framed the way node:http's ServerResponse
 * frames it (the same status line, Date, Connection, Keep-Alive and chunked encoding, the same
 * validation of names and values), without its stream machinery. The head waits until the first
 * body byte or the end, so a small response leaves in one write (the socket is corked for the
 * rest of the tick, as node:http does).
 */
export class LeanResponse extends EventEmitter implements ForwardedResponse {
  statusCode = 200;
  headersSent = false;
  writableFinished = false;
  destroyed = false;
  private readonly owner: ResponseOwner;
  private readonly http10: boolean;
  private keepAlive: boolean;
  private hasBody: boolean;
  private chunked = false;
  /** The head, built and not written yet. */
  private pendingHead = '';
  private corked = false;

  constructor(owner: ResponseOwner, isHead: boolean, http10: boolean, keepAlive: boolean) {
    super();
    this.owner = owner;
    this.http10 = http10;
    this.keepAlive = keepAlive;
    this.hasBody = !isHead;
  }

  writeHead(status: number, reasonOrHeaders?: string | OutgoingHttpHeaders | string[], maybeHeaders?: OutgoingHttpHeaders | string[]): this {
    if (this.headersSent) throw new Error('the response head was sent already');
    let reason: string | undefined;
    let headers = maybeHeaders;
    if (typeof reasonOrHeaders === 'string') reason = reasonOrHeaders;
    else headers = reasonOrHeaders;
    status |= 0;
    if (status < 100 || status > 999) throw new RangeError(`invalid status code ${status}`);
    if (!reason) reason = STATUS_CODES[status] ?? 'unknown';
    else if (/[^\t\x20-\x7e\x80-\xff]/.test(reason)) throw new TypeError('invalid character in the status message');
    if (statusHasNoBody(status)) this.hasBody = false;
    const state = { head: `HTTP/1.1 ${status} ${reason}\r\n`, date: false, connection: false, contentLength: false, te: false };
    if (Array.isArray(headers)) {
      if (headers.length % 2 !== 0) throw new TypeError('headers must come in name, value pairs');
      for (let i = 0; i < headers.length; i += 2) this.header(state, headers[i]!, headers[i + 1]!);
    } else if (headers) {
      for (const name of Object.keys(headers)) {
        const value = headers[name];
        if (value === undefined) continue;
        if (Array.isArray(value)) for (const v of value) this.header(state, name, v);
        else this.header(state, name, String(value));
      }
    }
    let head = state.head;
    if (!state.date) head += `Date: ${utcDate()}\r\n`;
    if (!this.owner.mayKeepAlive()) this.keepAlive = false;
    if (!state.connection) {
      // node:http: keep-alive only when the length is known, or chunked can say it (HTTP/1.1).
      if (this.keepAlive && (state.contentLength || !this.http10)) head += `Connection: keep-alive\r\n${this.owner.keepAliveLine}`;
      else {
        this.keepAlive = false;
        head += 'Connection: close\r\n';
      }
    }
    if (!state.contentLength && !state.te && this.hasBody) {
      // HTTP/1.0 has no chunked encoding: the close ends the body.
      if (this.http10) this.keepAlive = false;
      else {
        head += 'Transfer-Encoding: chunked\r\n';
        this.chunked = true;
      }
    }
    this.pendingHead = head + '\r\n';
    this.statusCode = status;
    this.headersSent = true;
    return this;
  }

  private header(state: { head: string; date: boolean; connection: boolean; contentLength: boolean; te: boolean }, name: string, value: string): void {
    validateHeaderName(name);
    validateHeaderValue(name, value);
    state.head += `${name}: ${value}\r\n`;
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'date') state.date = true;
        break;
      case 10:
        if (name.toLowerCase() === 'connection') {
          state.connection = true;
          if (/(?:^|\W)close(?:$|\W)/i.test(value)) this.keepAlive = false;
        }
        break;
      case 14:
        if (name.toLowerCase() === 'content-length') state.contentLength = true;
        break;
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') {
          state.te = true;
          this.chunked = /(?:^|\W)chunked(?:$|\W)/i.test(value);
        }
        break;
    }
  }

  write(chunk: Buffer): boolean {
    return this.writeBody(chunk, chunk.length, false);
  }

  /** A chunk of the body: bytes, or a string (UTF-8) of `size` bytes; `last`: end() follows at once. */
  private writeBody(chunk: Buffer | string, size: number, last: boolean): boolean {
    if (this.writableFinished || this.destroyed) return false;
    if (!this.headersSent) this.writeHead(this.statusCode);
    // HEAD, 204, 304: node:http ignores the body too.
    if (!this.hasBody || size === 0) return true;
    const head = this.pendingHead;
    if (head !== '' && !this.chunked && size <= COMBINE_LIMIT) {
      this.pendingHead = '';
      // A small body goes out in one buffer with its head: one write, where a string and a
      // buffer take a writev (an array of chunks, the string copied in C++).
      const both = Buffer.allocUnsafe(head.length + size);
      both.write(head, 0, 'latin1');
      if (typeof chunk === 'string') both.write(chunk, head.length, 'utf8');
      else both.set(chunk, head.length);
      // The whole response: written now, with no cork to wait a tick for (behind what a cork holds, if any).
      return (last ? this.owner.socket : this.cork()).write(both);
    }
    const socket = this.cork();
    if (head !== '') {
      this.pendingHead = '';
      socket.write(head, 'latin1');
    }
    if (typeof chunk === 'string') chunk = Buffer.from(chunk, 'utf8');
    if (!this.chunked) return socket.write(chunk);
    socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
    socket.write(chunk);
    return socket.write('\r\n', 'latin1');
  }

  end(chunk?: string | Buffer): this {
    if (this.writableFinished || this.destroyed) return this;
    if (chunk !== undefined) this.writeBody(chunk, typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length, true);
    if (!this.headersSent) this.writeHead(this.statusCode);
    const tail = this.chunked && this.hasBody ? `${this.pendingHead}0\r\n\r\n` : this.pendingHead;
    this.pendingHead = '';
    // The last bytes: a cork, if the body set one, holds them in order; else they go at once.
    if (tail !== '') this.owner.socket.write(tail, 'latin1');
    this.writableFinished = true;
    this.owner.responseDone(this, this.keepAlive);
    return this;
  }

  destroy(): this {
    if (!this.destroyed) {
      this.destroyed = true;
      this.owner.socket.destroy();
    }
    return this;
  }

  /** The client's connection closed before the end: 'close' without 'finish'. */
  clientGone(): void {
    this.destroyed = true;
    this.emit('close');
  }

  /** Called by the owner on the tick after end(), as node:http emits them. */
  finished(): void {
    this.emit('finish');
    this.emit('close');
  }

  /** Everything written this tick goes out in one writev, as node:http corks for a response. */
  private cork(): Socket {
    const socket = this.owner.socket;
    if (!this.corked) {
      this.corked = true;
      socket.cork();
      process.nextTick(uncorkLater, this);
    }
    return socket;
  }

  /** @internal the tick's writes are done (see cork). */
  uncork(): void {
    this.corked = false;
    this.owner.socket.uncork();
  }
}

function uncorkLater(res: LeanResponse): void {
  res.uncork();
}

let dateSecond = -1;
let dateValue = '';

/** The Date header's value, computed once a second (node:http caches it the same way). */
function utcDate(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(second * 1000).toUTCString();
  }
  return dateValue;
}
