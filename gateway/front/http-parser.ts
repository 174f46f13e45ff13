import { createRequire } from 'node:module';

/**
 * Node's own HTTP/1 request parser (llhttp, from node:http's internals), typed for the lean front.
 * The lean front parses with exactly the parser node:http uses, with the same strict flags and the
 * same header-size limit, so a request reads the same way on either path (gunicorn's corpus and
 * the framing checks hold for both).
 */
export interface HttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  /** Bytes consumed, or the parse error (with its llhttp code, HPE_*). */
  execute(data: Buffer): number | (Error & { code?: string });
  /**
   * The parser reads the socket's handle itself, as node:http's does: each read is parsed in C++
   * and only the head reaches JavaScript (kOnExecute then says how far it got), with no Buffer,
   * stream push or 'data' event per read. unconsume() gives the reads back to the socket.
   */
  consume(handle: object): void;
  unconsume(): void;
  /** A copy of the read being parsed, while consuming (valid inside kOnExecute only). */
  getCurrentBuffer(): Buffer;
  free(): void;
  [callback: number]: ((...args: never[]) => unknown) | undefined;
}

interface HttpParserClass {
  new (): HttpParser;
  readonly REQUEST: number;
  readonly kOnHeaders: number;
  readonly kOnHeadersComplete: number;
  readonly kOnBody: number;
  readonly kOnMessageComplete: number;
  readonly kOnExecute: number;
  readonly kLenientNone: number;
}

const common = createRequire(import.meta.url)('_http_common') as { HTTPParser: HttpParserClass; methods: readonly string[] };

export const HTTPParser = common.HTTPParser;
/** Method names by the index the parser reports. */
export const PARSER_METHODS = common.methods;

/**
 * What kOnHeadersComplete gets: version, headers (names and values alternating) and URL (both
 * undefined when the parser passed them on through kOnHeaders: over 32 fields), method index,
 * (response fields), upgrade and keep-alive. Returning 2 tells
 * llhttp to stop right after the head, as for an upgrade: execute() then returns the head's length.
 */
export type HeadersCompleteCallback = (
  versionMajor: number,
  versionMinor: number,
  headers: string[] | undefined,
  method: number,
  url: string | undefined,
  statusCode: number | undefined,
  statusMessage: string | undefined,
  upgrade: boolean,
  shouldKeepAlive: boolean,
) => number;

export const STOP_AFTER_HEAD = 2;

/** A socket's libuv stream, as the parser consumes it (node:http checks the same two fields). */
interface StreamHandle {
  isStreamBase?: boolean;
  _consumed?: boolean;
}

/** The socket's handle if a parser may consume it: a stream, and no parser on it already. */
export function consumableHandle(socket: object): StreamHandle | null {
  const handle = (socket as { _handle?: StreamHandle | null })._handle;
  return handle?.isStreamBase === true && handle._consumed !== true ? handle : null;
}

/** Marks the handle as read by a parser (or no longer), the flag node:http looks at before it consumes. */
export function markConsumed(handle: StreamHandle, consumed: boolean): void {
  handle._consumed = consumed;
}
