import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { UwsgiVars } from '../../protocol/uwsgi/uwsgi-vars.js';

/**
 * What the forwarders read of a client's request. node:http's IncomingMessage is one; the lean
 * front's LeanRequest (a body-less request parsed without node:http's objects) is the other.
 */
export interface ForwardedRequest {
  readonly method?: string;
  readonly url?: string;
  /** Names and values as sent, alternating: what the vars are built from. */
  readonly rawHeaders: string[];
  readonly headers: IncomingHttpHeaders;
  readonly httpVersion: string;
  readonly httpVersionMajor: number;
  readonly httpVersionMinor: number;
  readonly socket: Socket;
  /** Every body byte was read (always, for a request without a body). */
  readonly readableEnded: boolean;
  readonly complete: boolean;
  /** Its X-Request-Id once the gateway settled it (gateway/forwarding/http-request-vars.ts requestIdOf). */
  requestId?: string;
  on(event: 'data', listener: (chunk: Buffer) => void): this;
  on(event: 'end' | 'close', listener: () => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  off(event: 'data', listener: (chunk: Buffer) => void): this;
  off(event: 'end' | 'close', listener: () => void): this;
  pause(): this;
  resume(): this;
  isPaused(): boolean;
  unpipe(): this;
  pipe<T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T;
}

/** What the forwarders do with the client's response: node:http's ServerResponse, a LeanResponse, or a ReplyResponse (through fastify's reply, for a --gateway-plugin's hooks). */
export interface ForwardedResponse {
  readonly headersSent: boolean;
  readonly writableFinished: boolean;
  readonly destroyed: boolean;
  statusCode: number;
  writeHead(status: number, reason: string, headers?: OutgoingHttpHeaders | string[]): this;
  writeHead(status: number, headers?: OutgoingHttpHeaders | string[]): this;
  write(chunk: Buffer): boolean;
  end(chunk?: string | Buffer): this;
  destroy(): this;
  on(event: 'close' | 'drain' | 'finish', listener: () => void): this;
  once(event: 'close' | 'drain' | 'finish', listener: () => void): this;
  off(event: 'close' | 'drain' | 'finish', listener: () => void): this;
}

/**
 * The app in the gateway's own process (`portico worker --http-socket`: every worker is its own
 * front, as under uWSGI's --http-socket or gunicorn): a request reaches it by a call, not over a
 * link, and it answers on `res` itself. No upstream, no queue: the kernel spreads the connections
 * over the workers that accept on the shared socket.
 */
export interface InProcessApp {
  /** One request: its vars as a link would carry them; `hasBody`: a body follows on `req`. */
  serve(req: ForwardedRequest, res: ForwardedResponse, vars: UwsgiVars, hasBody: boolean): void;
  /** An upgrade's connection, its request as a uwsgi packet and the client's bytes read past its head. */
  upgrade(socket: Socket, packet: Buffer, rest: Buffer): void;
}
