import { PorticoError } from '../../common/errors.js';

/**
 * Strict, incremental decoder of the HTTP/1.1 chunked transfer coding (RFC 9112 §7.1), for a
 * client's chunked request body on the gateway's lean front, and for a body that uWSGI's HTTP
 * router forwards raw (`--http-raw-body`) after a uwsgi packet without CONTENT_LENGTH. Bytes may arrive split anywhere; chunk data is passed on as slices of the input,
 * never buffered or copied. Nothing lenient: a bare LF, a size that is not hex, whitespace that
 * the grammar does not allow, a malformed extension or trailer is PORTICO_ERR_BAD_CHUNKED_BODY,
 * since two parsers that disagree on where a body ends are how requests get smuggled.
 * Extensions and trailers are checked and dropped: the app sees the data only.
 */
export interface ChunkedDecoderHandlers {
  /** A slice of de-chunked data, valid only during the call unless the handler keeps it (not copied). */
  onData(chunk: Buffer): void;
  /** The last chunk and the trailer section have been read. */
  onEnd(): void;
  onError(err: PorticoError): void;
}

export interface ChunkedDecoderOptions {
  /** Most de-chunked bytes accepted (default 2^53 - 1, the most a size can say exactly). */
  limit?: number;
}

/** A chunk-size line (size and extensions) longer than this is refused: no real sender needs it. */
export const MAX_CHUNK_LINE = 4096;
/** All trailer lines together, at most: they are read and dropped, never kept. */
export const MAX_TRAILERS = 16 * 1024;

const enum S {
  Size,
  SizeMore,
  BwsSemi,
  ExtNameStart,
  ExtName,
  ExtAfterName,
  ExtValueStart,
  ExtToken,
  ExtQuoted,
  ExtQuotedPair,
  ExtAfterQuoted,
  SizeLF,
  Data,
  DataCR,
  DataLF,
  TrailerStart,
  TrailerName,
  TrailerValue,
  TrailerLF,
  FinalLF,
  Done,
  Failed,
}

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;

/**
 * RFC 9110 tchar: the characters of a token. Annotated as plain Uint8Array: the inferred
 * Uint8Array<ArrayBuffer> made tsc 5.9 crash (Debug Failure) checking protocol/uwsgi/packet-encoder.ts.
 */
const TCHAR: Uint8Array = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TCHAR[c] = 1;
for (let c = 65; c <= 90; c++) TCHAR[c] = 1;
for (let c = 97; c <= 122; c++) TCHAR[c] = 1;

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

export class ChunkedDecoder {
  private state = S.Size;
  /** Data bytes left in the current chunk, or the size being read. */
  private size = 0;
  private lineBytes = 0;
  private trailerBytes = 0;
  /** The trailer field name being read (the trailer section is at most MAX_TRAILERS bytes). */
  private trailerName = '';
  private total = 0;
  /** Raw bytes consumed so far: where an error is, for the log. */
  private offset = 0;
  private readonly limit: number;
  private readonly h: ChunkedDecoderHandlers;

  constructor(handlers: ChunkedDecoderHandlers, options: ChunkedDecoderOptions = {}) {
    this.h = handlers;
    this.limit = options.limit ?? Number.MAX_SAFE_INTEGER;
  }

  /** True once the last chunk and the trailers have been read. */
  get done(): boolean {
    return this.state === S.Done;
  }

  get failed(): boolean {
    return this.state === S.Failed;
  }

  /**
   * Feeds buf[pos..]; returns where it stopped: buf.length, or just past the body's end (the bytes
   * after it, a pipelined request, are left to the caller), or where it failed.
   */
  push(buf: Buffer, pos = 0): number {
    const end = buf.length;
    let i = pos;
    while (i < end) {
      const st = this.state;
      if (st === S.Data) {
        const avail = end - i;
        const take = avail < this.size ? avail : this.size;
        this.size -= take;
        this.offset += take;
        if (this.size === 0) this.state = S.DataCR;
        const data = i === 0 && take === end ? buf : buf.subarray(i, i + take);
        this.h.onData(data);
        i += take;
        // The handler may have failed the whole request (and so this decoder) meanwhile.
        if (this.state === S.Failed) return i;
        continue;
      }
      if (st >= S.Done) return i;
      const c = buf[i]!;
      if (!this.step(c)) return i;
      i++;
      this.offset++;
      if (this.state === S.Done) {
        this.h.onEnd();
        return i;
      }
    }
    return i;
  }

  /** The input ended: unless the body was whole, that is a truncated body. */
  end(): void {
    if (this.state === S.Done || this.state === S.Failed) return;
    this.fail('PORTICO_ERR_TRUNCATED_BODY', `the chunked body ended after ${this.offset} bytes, before its last chunk (0 CRLF CRLF)`);
  }

  /** Stops without a word: later bytes are ignored (the request was answered some other way). */
  abandon(): void {
    if (this.state !== S.Done) this.state = S.Failed;
  }

  /** One framing byte; false once failed. */
  private step(c: number): boolean {
    switch (this.state) {
      case S.Size: {
        const d = hexValue(c);
        if (d < 0) return this.bad(`chunk size expected, got ${show(c)}`);
        this.size = d;
        this.lineBytes = 1;
        this.state = S.SizeMore;
        return true;
      }
      case S.SizeMore: {
        if (++this.lineBytes > MAX_CHUNK_LINE) return this.bad(`chunk-size line longer than ${MAX_CHUNK_LINE} bytes`);
        const d = hexValue(c);
        if (d >= 0) {
          // Checked before it happens: past 2^53 a double no longer counts bytes exactly.
          if (this.size > (Number.MAX_SAFE_INTEGER - d) / 16) return this.bad('chunk size over 2^53');
          this.size = this.size * 16 + d;
          return true;
        }
        if (c === CR) return this.sizeDone();
        if (c === LF) return this.bad('LF without CR after the chunk size');
        if (c === 59 /* ; */) return this.to(S.ExtNameStart);
        // BWS before ";" only: whitespace at the end of the line is not in the grammar.
        if (c === SP || c === HTAB) return this.to(S.BwsSemi);
        return this.bad(`chunk size is not hexadecimal (${show(c)})`);
      }
      default:
        return this.stepExtOrTrailer(c);
    }
  }

  private stepExtOrTrailer(c: number): boolean {
    switch (this.state) {
      case S.BwsSemi:
      case S.ExtNameStart:
      case S.ExtName:
      case S.ExtAfterName:
      case S.ExtValueStart:
      case S.ExtToken:
      case S.ExtQuoted:
      case S.ExtQuotedPair:
      case S.ExtAfterQuoted:
        if (++this.lineBytes > MAX_CHUNK_LINE) return this.bad(`chunk-size line longer than ${MAX_CHUNK_LINE} bytes`);
        return this.stepExt(c);
      case S.SizeLF:
        if (c !== LF) return this.bad('CR without LF after the chunk size');
        if (this.size === 0) {
          this.state = S.TrailerStart;
          return true;
        }
        this.state = S.Data;
        return true;
      case S.DataCR:
        return c === CR ? this.to(S.DataLF) : this.bad(`CRLF expected after the chunk data, got ${show(c)}`);
      case S.DataLF:
        return c === LF ? this.to(S.Size) : this.bad('CR without LF after the chunk data');
      case S.TrailerStart:
        if (c === CR) return this.to(S.FinalLF);
        if (!this.trailerByte()) return false;
        if (!TCHAR[c]) return this.bad(`trailer field name expected, got ${show(c)}`);
        this.trailerName = String.fromCharCode(c);
        return this.to(S.TrailerName);
      case S.TrailerName:
        if (!this.trailerByte()) return false;
        if (c === 58 /* : */) {
          // RFC 9110 §6.5.1: a framing field in the trailers is refused, as gunicorn and llhttp do.
          const name = this.trailerName.toLowerCase();
          if (name === 'content-length' || name === 'transfer-encoding') return this.bad(`${this.trailerName} in the trailer section`);
          return this.to(S.TrailerValue);
        }
        if (!TCHAR[c]) return this.bad(`trailer field name has ${show(c)}`);
        this.trailerName += String.fromCharCode(c);
        return true;
      case S.TrailerValue:
        if (!this.trailerByte()) return false;
        if (c === CR) return this.to(S.TrailerLF);
        // field-value: VCHAR, obs-text, SP, HTAB; no NUL, no bare LF, no DEL.
        return (c >= SP && c !== 127) || c === HTAB ? true : this.bad(`trailer field value has ${show(c)}`);
      case S.TrailerLF:
        if (!this.trailerByte()) return false;
        return c === LF ? this.to(S.TrailerStart) : this.bad('CR without LF in the trailer section');
      case S.FinalLF:
        return c === LF ? this.to(S.Done) : this.bad('CR without LF at the end of the chunked body');
      default:
        return false;
    }
  }

  /** chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ), RFC 9112 §7.1.1. */
  private stepExt(c: number): boolean {
    const ws = c === SP || c === HTAB;
    switch (this.state) {
      case S.BwsSemi:
        if (ws) return true;
        return c === 59 /* ; */ ? this.to(S.ExtNameStart) : this.bad(`";" expected after whitespace in the chunk-size line, got ${show(c)}`);
      case S.ExtNameStart:
        if (ws) return true;
        return TCHAR[c] ? this.to(S.ExtName) : this.bad(`chunk extension name expected, got ${show(c)}`);
      case S.ExtName:
        if (TCHAR[c]) return true;
        if (c === CR) return this.sizeDone();
        if (c === 59) return this.to(S.ExtNameStart);
        if (c === 61 /* = */) return this.to(S.ExtValueStart);
        return ws ? this.to(S.ExtAfterName) : this.bad(`chunk extension name has ${show(c)}`);
      case S.ExtAfterName:
        if (ws) return true;
        if (c === 59) return this.to(S.ExtNameStart);
        return c === 61 ? this.to(S.ExtValueStart) : this.bad(`"=" or ";" expected in a chunk extension, got ${show(c)}`);
      case S.ExtValueStart:
        if (ws) return true;
        if (c === 34 /* " */) return this.to(S.ExtQuoted);
        return TCHAR[c] ? this.to(S.ExtToken) : this.bad(`chunk extension value expected, got ${show(c)}`);
      case S.ExtToken:
        if (TCHAR[c]) return true;
        if (c === CR) return this.sizeDone();
        if (c === 59) return this.to(S.ExtNameStart);
        return ws ? this.to(S.BwsSemi) : this.bad(`chunk extension value has ${show(c)}`);
      case S.ExtQuoted:
        if (c === 34) return this.to(S.ExtAfterQuoted);
        if (c === 92 /* \ */) return this.to(S.ExtQuotedPair);
        // qdtext: HTAB, SP, VCHAR but '"' and '\', obs-text.
        return ws || (c > SP && c !== 127) ? true : this.bad(`quoted chunk extension value has ${show(c)}`);
      case S.ExtQuotedPair:
        return ws || (c > SP && c !== 127) ? this.to(S.ExtQuoted) : this.bad(`quoted-pair has ${show(c)}`);
      case S.ExtAfterQuoted:
        // After the closing quote: the end of the line, another extension, or BWS before one.
        if (c === CR) return this.sizeDone();
        if (c === 59) return this.to(S.ExtNameStart);
        return ws ? this.to(S.BwsSemi) : this.bad(`${show(c)} after a quoted chunk extension value`);
      default:
        return false;
    }
  }

  private sizeDone(): boolean {
    if (this.size > this.limit - this.total) return this.bad(`the body is over the limit of ${this.limit} bytes`);
    this.total += this.size;
    this.state = S.SizeLF;
    return true;
  }

  private trailerByte(): boolean {
    return ++this.trailerBytes <= MAX_TRAILERS || this.bad(`trailer section longer than ${MAX_TRAILERS} bytes`);
  }

  private to(state: S): true {
    this.state = state;
    return true;
  }

  private bad(detail: string): false {
    return this.fail('PORTICO_ERR_BAD_CHUNKED_BODY', `${detail} at byte ${this.offset} of the body`);
  }

  private fail(code: 'PORTICO_ERR_BAD_CHUNKED_BODY' | 'PORTICO_ERR_TRUNCATED_BODY', detail: string): false {
    this.state = S.Failed;
    this.h.onError(new PorticoError(code, detail));
    return false;
  }
}

/** A byte for the log: printable ones quoted, others in hex. */
function show(c: number): string {
  if (c >= 33 && c < 127) return `"${String.fromCharCode(c)}"`;
  return `byte 0x${c.toString(16).padStart(2, '0')}`;
}
