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
