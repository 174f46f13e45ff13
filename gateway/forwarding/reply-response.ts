import { EventEmitter } from 'node:events';
import { validateHeaderName, validateHeaderValue, type OutgoingHttpHeaders } from 'node:http';
import { PassThrough } from 'node:stream';
import type { FastifyReply } from 'fastify';
import type { ForwardedResponse } from './forward-types.js';

/**
 * A forwarded response that goes out through fastify's reply (reply.code, reply.headers,
 * reply.send of a stream) instead of the raw ServerResponse: what a --gateway-plugin's onSend
 * hooks need to see it (@fastify/compress compresses the body, @fastify/helmet and @fastify/cors
 * add their headers). The forwarders write the worker's head and body to it as to any response;
 * the body streams through with the client's backpressure ('drain' when it takes more).
 */
export class ReplyResponse extends EventEmitter implements ForwardedResponse {
  statusCode = 200;
  headersSent = false;
  private readonly reply: FastifyReply;
  /** The body so far, until the send at the end of this turn; then null. */
  private pending: Buffer[] | null = null;
  private ended = false;
  private body: PassThrough | null = null;

  constructor(reply: FastifyReply) {
    super();
    this.reply = reply;
    const raw = reply.raw;
    raw.once('finish', () => this.emit('finish'));
    raw.once('close', () => this.emit('close'));
  }

  /** The access log (gateway/front/access-log.ts) sees the raw response. */
  get raw(): object {
    return this.reply.raw;
  }

  get writableFinished(): boolean {
    return this.reply.raw.writableFinished;
  }

  get destroyed(): boolean {
    return this.reply.raw.destroyed;
  }

  writeHead(status: number, reason?: string | OutgoingHttpHeaders | string[], headers?: OutgoingHttpHeaders | string[]): this {
    if (typeof reason !== 'string') {
      headers = reason;
      reason = undefined;
    }
    // Checked now, as node:http's writeHead does: a refused head is the forwarder's 502, not a throw in fastify's send.
    const collected = collect(headers);
    this.statusCode = status;
    const reply = this.reply;
    reply.code(status);
    if (reason) reply.raw.statusMessage = reason;
    reply.headers(collected);
    this.headersSent = true;
    this.pending = [];
    // A small answer usually arrives whole in the turn of its head: it is sent as one Buffer, which
    // costs fastify and the onSend hooks less than a stream. A longer one streams from then on.
    queueMicrotask(() => this.send());
    return this;
  }

  write(chunk: Buffer): boolean {
    if (this.body !== null) return this.body.write(chunk);
    this.pending!.push(chunk);
    return true;
  }

  end(chunk?: string | Buffer): this {
    if (!this.headersSent) this.writeHead(this.statusCode);
    if (this.body !== null) {
      if (chunk === undefined) this.body.end();
      else this.body.end(chunk);
      return this;
    }
    if (chunk !== undefined) this.pending!.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    this.ended = true;
    return this;
  }

  destroy(): this {
    this.reply.raw.destroy();
    this.body?.destroy();
    return this;
  }

  private send(): void {
    const pending = this.pending!;
    this.pending = null;
    if (this.reply.raw.destroyed) return;
    if (this.ended) {
      // No payload for an empty body: fastify then keeps a HEAD's Content-Length as the worker sent it.
      if (pending.length === 0) this.reply.send();
      else this.reply.send(pending.length === 1 ? pending[0] : Buffer.concat(pending));
      return;
    }
    const body = new PassThrough();
    body.on('drain', () => this.emit('drain'));
    for (const chunk of pending) body.write(chunk);
    this.body = body;
    this.reply.send(body);
  }
}

/** Flat name, value pairs (or an object) as one object, a repeated name's values as an array (Set-Cookie). */
function collect(headers: OutgoingHttpHeaders | string[] | undefined): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (headers === undefined) return out;
  const add = (name: string, value: string): void => {
    validateHeaderName(name);
    validateHeaderValue(name, value);
    const key = name.toLowerCase();
    const prev = out[key];
    out[key] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  };
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i += 2) add(headers[i]!, headers[i + 1]!);
  } else {
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) add(name, String(v));
    }
  }
  return out;
}
