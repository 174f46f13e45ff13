import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { ForwardedRequest } from '../forwarding/forward-types.js';

/**
 * A request without a body that the lean front parsed: its head only (a LeanBodyRequest, below,
 * carries a body). An EventEmitter, not a Readable: it never emits 'data', and that is what keeps
 * it cheap next to an IncomingMessage.
 */
export class LeanRequest extends EventEmitter implements ForwardedRequest {
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: string[];
  readonly httpVersionMajor: number;
  readonly httpVersionMinor: number;
  readonly socket: Socket;
  readonly readableEnded = true;
  readonly complete = true;
  /** Under a --static prefix: for the static cache, not the workers. */
  readonly isStatic: boolean;
  requestId: string | undefined = undefined;
  private headersObject: IncomingHttpHeaders | null = null;

  constructor(socket: Socket, method: string, url: string, rawHeaders: string[], versionMajor: number, versionMinor: number, isStatic = false) {
    super();
    this.isStatic = isStatic;
    this.socket = socket;
    this.method = method;
    this.url = url;
    this.rawHeaders = rawHeaders;
    this.httpVersionMajor = versionMajor;
    this.httpVersionMinor = versionMinor;
  }

  get httpVersion(): string {
    return `${this.httpVersionMajor}.${this.httpVersionMinor}`;
  }

  /** No body: nothing follows the head. */
  get bodyLength(): number {
    return 0;
  }

  get headers(): IncomingHttpHeaders {
    return (this.headersObject ??= headersOf(this.rawHeaders));
  }

  // No body: nothing to pause, resume or pipe.
  pause(): this {
    return this;
  }

  resume(): this {
    return this;
  }

  isPaused(): boolean {
    return false;
  }

  unpipe(): this {
    return this;
  }

  pipe<T extends NodeJS.WritableStream>(destination: T): T {
    return destination;
  }
}

/**
 * A request with a body (a Content-Length one, or a chunked one the connection decodes): a
 * Readable the lean connection pushes the body into as it arrives (pausing the client's socket
 * when the reader is behind). Only requests with a body pay for a stream; their reader (the
 * forwarder) needs one anyway.
 */
export class LeanBodyRequest extends Readable implements ForwardedRequest {
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: string[];
  readonly httpVersionMajor: number;
  readonly httpVersionMinor: number;
  readonly socket: Socket;
  /** The Content-Length, or null for a chunked body (its length is known at its last chunk). */
  readonly bodyLength: number | null;
  /** The client sent `Expect: 100-continue` and waits for the interim answer before the body. */
  readonly expectContinue: boolean;
  readonly isStatic = false;
  /** Every body byte arrived (node:http's IncomingMessage.complete). */
  complete = false;
  requestId: string | undefined = undefined;
  private headersObject: IncomingHttpHeaders | null = null;

  constructor(socket: Socket, method: string, url: string, rawHeaders: string[], versionMajor: number, versionMinor: number, bodyLength: number | null, expectContinue = false) {
    super();
    this.expectContinue = expectContinue;
    this.socket = socket;
    this.method = method;
    this.url = url;
    this.rawHeaders = rawHeaders;
    this.httpVersionMajor = versionMajor;
    this.httpVersionMinor = versionMinor;
    this.bodyLength = bodyLength;
  }

  get httpVersion(): string {
    return `${this.httpVersionMajor}.${this.httpVersionMinor}`;
  }

  get headers(): IncomingHttpHeaders {
    return (this.headersObject ??= headersOf(this.rawHeaders));
  }

  /** The reader wants more: the client's socket may read again (the connection paused it). */
  override _read(): void {
    this.socket.resume();
  }
}

/** Lower-cased names, repeated fields joined with ", " (built on first use: the hot path reads rawHeaders). */
function headersOf(raw: readonly string[]): IncomingHttpHeaders {
  const out: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const prev = out[name];
    out[name] = prev === undefined ? raw[i + 1]! : `${prev}, ${raw[i + 1]!}`;
  }
  return out;
}

/** A request the lean front took: without a body, or with one (Content-Length or chunked). */
export type LeanIncoming = LeanRequest | LeanBodyRequest;
