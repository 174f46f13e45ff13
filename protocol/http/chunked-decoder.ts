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
interface ChunkedDecoderHandlers {
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
  /** A chunk-size line, or a trailer line once the last chunk was read, up to its CR. */
  Line,
  LineLF,
  Data,
  DataCR,
  DataLF,
  Done,
  Failed,
}

const CR = 13;
const LF = 10;

/** RFC 9110 token, and quoted-string: qdtext (HTAB, SP, VCHAR but '"' and '\', obs-text) and quoted-pairs. */
const TOKEN = /[!#$%&'*+\-.^_`|~0-9A-Za-z]+/.source;
const QUOTED = /"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"/.source;
/** chunk-size, then chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ), RFC 9112 §7.1.1. */
const SIZE_LINE = new RegExp(String.raw`^([0-9A-Fa-f]+)(?:[ \t]*;[ \t]*${TOKEN}(?:[ \t]*=[ \t]*(?:${TOKEN}|${QUOTED}))?)*$`);
/** field-line: a token, a colon, a value of VCHAR, obs-text, SP and HTAB (no NUL, no DEL, no folding). */
const TRAILER_LINE = new RegExp(String.raw`^(${TOKEN}):[\t \x21-\x7e\x80-\xff]*$`);

export class ChunkedDecoder {
  private state = S.Line;
  /** Data bytes left in the current chunk. */
  private size = 0;
  /** The line being read, as latin1: each of its bytes is one char. */
  private line = '';
  private inTrailers = false;
  private trailerBytes = 0;
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
      if (st === S.Line) {
        let j = i;
        while (j < end && buf[j] !== CR && buf[j] !== LF) j++;
        this.line += buf.toString('latin1', i, j);
        this.offset += j - i;
        i = j;
        if (!this.lineFits()) return i;
        if (i === end) return i;
        if (buf[i] === LF) {
          this.bad('LF without CR');
          return i;
        }
        this.state = S.LineLF;
      } else if (!this.step(buf[i]!)) {
        return i;
      }
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

  /** The byte after a line's CR, or after chunk data; false once failed. */
  private step(c: number): boolean {
    switch (this.state) {
      case S.LineLF:
        if (c !== LF) return this.bad('CR without LF at the end of a line');
        return this.inTrailers ? this.trailerLine() : this.sizeLine();
      case S.DataCR:
        return c === CR ? this.to(S.DataLF) : this.bad(`CRLF expected after the chunk data, got ${show(c)}`);
      default:
        return c === LF ? this.to(S.Line) : this.bad('CR without LF after the chunk data');
    }
  }

  private lineFits(): boolean {
    if (!this.inTrailers) return this.line.length <= MAX_CHUNK_LINE || this.bad(`chunk-size line longer than ${MAX_CHUNK_LINE} bytes`);
    return this.trailerBytes + this.line.length <= MAX_TRAILERS || this.bad(`trailer section longer than ${MAX_TRAILERS} bytes`);
  }

  private sizeLine(): boolean {
    const m = SIZE_LINE.exec(this.line);
    if (!m) return this.badLine('chunk-size');
    this.line = '';
    const hex = m[1]!.replace(/^0+(?=.)/, '');
    // Past 2^53 a double no longer counts bytes exactly; 14 hex digits and more are at least that.
    const size = hex.length > 14 ? Number.POSITIVE_INFINITY : Number.parseInt(hex, 16);
    if (size > Number.MAX_SAFE_INTEGER) return this.bad('chunk size over 2^53');
    if (size > this.limit - this.total) return this.bad(`the body is over the limit of ${this.limit} bytes`);
    this.total += size;
    this.size = size;
    if (size === 0) this.inTrailers = true;
    return this.to(size === 0 ? S.Line : S.Data);
  }

  private trailerLine(): boolean {
    const line = this.line;
    if (line === '') return this.to(S.Done);
    const m = TRAILER_LINE.exec(line);
    if (!m) return this.badLine('trailer');
    this.line = '';
    this.trailerBytes += line.length + 2;
    // RFC 9110 §6.5.1: a framing field in the trailers is refused, as gunicorn and llhttp do.
    const name = m[1]!.toLowerCase();
    if (name === 'content-length' || name === 'transfer-encoding') return this.bad(`${m[1]} in the trailer section`);
    return this.to(S.Line);
  }

  private to(state: S): true {
    this.state = state;
    return true;
  }

  private bad(detail: string, at = this.offset): false {
    return this.fail('PORTICO_ERR_BAD_CHUNKED_BODY', `${detail} at byte ${at} of the body`);
  }

  /** The line just read (its CRLF too) breaks the grammar: where it starts, and what it says. */
  private badLine(what: string): false {
    return this.bad(`malformed ${what} line ${JSON.stringify(this.line.slice(0, 64))}`, this.offset - this.line.length - 1);
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
