import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { ForwardedRequest } from './forward-types.js';

/**
 * A request the lean front parsed: its head only, since the lean front takes only requests
 * without a body (the others go to node:http). An EventEmitter, not a Readable: it never emits
 * 'data', and that is what keeps it cheap next to an IncomingMessage.
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

  /** Built on first use, lower-cased, repeated fields joined with ", " (nothing on the hot path reads it). */
  get headers(): IncomingHttpHeaders {
    if (this.headersObject) return this.headersObject;
    const out: Record<string, string> = {};
    const raw = this.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      const prev = out[name];
      out[name] = prev === undefined ? raw[i + 1]! : `${prev}, ${raw[i + 1]!}`;
    }
    return (this.headersObject = out);
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
