import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';

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
