import type { Exchange } from './exchange.js';

/**
 * Where an Exchange's response goes: HTTP/1.1 bytes on a uwsgi connection (closed at the end),
 * frames on a native link (kept open for the next request), or calls on the response object of an
 * HTTP front in the same process (worker/in-process/). Sinks are stateless singletons that
 * write to `ex.socket`, so choosing one costs a request no allocation; the Exchange keeps the rules
 * both share (when a body may be written, 500 before the head, the log's counters).
 */
export interface ResponseSink {
  /**
   * Which link this is; the node kind writes to the uwsgi socket itself, and to a stand-in on the
   * native and in-process links (a front in the worker's own process, worker/in-process/).
   */
  readonly link: 'uwsgi' | 'native' | 'in-process';
  /**
   * Validates and sends the head (with `body`, a non-empty one the response carries, in as few
   * writes as it can); returns the head's size. Throws PORTICO_ERR_INVALID_HEADER before anything
   * is written.
   */
  writeHead(ex: Exchange, status: number, statusText: string | undefined, headers: readonly string[], body?: Buffer | string): number;
  /** A body chunk; false means wait for 'drain'. */
  write(ex: Exchange, chunk: Uint8Array): boolean;
  /** The response is complete. */
  end(ex: Exchange): void;
  /** The app failed after the head: make the response read as incomplete. */
  cut(ex: Exchange, reason: string): void;
  /** The peer went away or cancelled before the response was complete. */
  abort(ex: Exchange): void;
}
