import { PorticoError } from '../../common/errors.js';
import { defaults } from '../../config/defaults.js';
import { ChunkedDecoder } from '../http/chunked-decoder.js';
import { parseContentLength, transferCodingIsChunked } from './content-length.js';
import { decodeVars } from './vars-decoder.js';
import type { UwsgiVars } from './uwsgi-vars.js';

export interface PacketHead {
  modifier1: number;
  modifier2: number;
  /** Size of the vars block in bytes, as the header states it. */
  datasize: number;
  vars: UwsgiVars;
  /**
   * Body length from CONTENT_LENGTH, the only authority on it whenever it is there (empty: 0).
   * -1: no CONTENT_LENGTH and `HTTP_TRANSFER_ENCODING` ending in chunked (uWSGI's HTTP router):
   * the body that follows is chunked, decoded here, and ends at its last chunk.
   */
  contentLength: number;
}

export interface PacketDecoderHandlers {
  onHead(head: PacketHead): void;
  /** A slice of the body, valid only during the call unless the handler keeps it (it is not copied). */
  onBody(chunk: Buffer): void;
  onEnd(): void;
  onError(err: PorticoError): void;
  /** A chunked body's first bytes arrived (after they were decoded and passed on). Chunked bodies only. */
  onChunkedStart?(): void;
}

export interface PacketDecoderOptions {
  bufferSize?: number;
  /** modifier1 values this endpoint serves; anything else is PORTICO_ERR_UNKNOWN_MODIFIER. */
  modifiers?: ReadonlySet<number>;
}

const enum State {
  Header,
  Vars,
  Body,
  Chunked,
  Done,
  Failed,
}

const DEFAULT_MODIFIERS: ReadonlySet<number> = new Set([0]);

/**
 * Incremental decoder for one uwsgi request packet on a byte stream. Bytes may arrive split at any
 * boundary; the head is decoded once whole and the body is passed on chunk by chunk, never buffered.
 * After the body, further bytes are ignored: nginx keeps its side open and sends nothing more.
 */
export class PacketDecoder {
  private state = State.Header;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private datasize = 0;
  private modifier1 = 0;
  private modifier2 = 0;
  private bodyLeft = 0;
  /** Only for a chunked body: CONTENT_LENGTH bodies never create one. */
  private chunks: ChunkedDecoder | null = null;
  private started = false;
  private readonly bufferSize: number;
  private readonly modifiers: ReadonlySet<number>;
  private readonly h: PacketDecoderHandlers;

  constructor(handlers: PacketDecoderHandlers, options: PacketDecoderOptions = {}) {
    this.h = handlers;
    this.bufferSize = options.bufferSize ?? defaults.bufferSize;
    this.modifiers = options.modifiers ?? DEFAULT_MODIFIERS;
  }

  /** True once the whole packet (head and body) has been decoded. */
  get done(): boolean {
    return this.state === State.Done;
  }

  /** True when nothing of a packet has arrived yet: EOF here is a normal close. */
  get idle(): boolean {
    return this.state === State.Header && this.pendingBytes === 0;
  }

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.state === State.Body) {
      this.feedBody(buf, 0);
      return;
    }
    if (this.state === State.Chunked) return this.feedChunked(buf, 0);
    if (this.state >= State.Done) return;
    if (this.pendingBytes > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      const need = this.state === State.Header ? 4 : this.datasize;
      if (this.pendingBytes < need) return;
      buf = Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
    }
    let pos = 0;
    let head: PacketHead;
    try {
      if (this.state === State.Header) {
        if (buf.length < 4) return this.stash(buf);
        this.readHeader(buf);
        pos = 4;
        this.state = State.Vars;
      }
      if (buf.length - pos < this.datasize) return this.stash(pos === 0 ? buf : buf.subarray(pos));
      head = this.readVars(buf, pos);
    } catch (err) {
      return this.fail(err as PorticoError);
    }
    this.h.onHead(head);
    if (this.chunks) return this.feedChunked(buf, pos + this.datasize);
    this.feedBody(buf, pos + this.datasize);
  }

  /** Ignores the rest of the body: the request was answered without it (the worker gave up waiting). */
  abandon(): void {
    if (this.state === State.Chunked) {
      this.chunks!.abandon();
      this.state = State.Failed;
    }
  }

  /** The peer closed its side. Mid-packet that is an error; before any byte it is a normal close. */
  end(): void {
    if (this.state === State.Done || this.state === State.Failed || this.idle) return;
    if (this.state === State.Chunked) return this.chunks!.end();
    const code = this.state === State.Body ? 'PORTICO_ERR_TRUNCATED_BODY' : 'PORTICO_ERR_TRUNCATED_PACKET';
    const detail = this.state === State.Body ? `${this.bodyLeft} bytes missing` : undefined;
    this.fail(new PorticoError(code, detail));
  }

  private stash(buf: Buffer): void {
    this.pending.push(buf);
    this.pendingBytes += buf.length;
  }

  /** The 4-byte header; throws what refuses it. */
  private readHeader(buf: Buffer): void {
    this.modifier1 = buf[0]!;
    this.datasize = buf[1]! | (buf[2]! << 8);
    this.modifier2 = buf[3]!;
    if (looksLikeHttp(buf)) {
      throw new PorticoError(
        'PORTICO_ERR_HTTP_ON_UWSGI_SOCKET',
        `invalid request block size ${this.datasize}: this socket speaks uwsgi, not HTTP ` + '(point nginx at it with uwsgi_pass, or put the gateway in front with --http)',
      );
    }
    if (this.datasize > this.bufferSize) {
      throw new PorticoError('PORTICO_ERR_VARS_TOO_BIG', `invalid request block size ${this.datasize} (max ${this.bufferSize}): raise --buffer-size (at most 65535)`);
    }
    if (!this.modifiers.has(this.modifier1)) throw new PorticoError('PORTICO_ERR_UNKNOWN_MODIFIER', `modifier1 ${this.modifier1}`);
  }

  /** The vars block, and how the body that follows is framed; throws what refuses them. */
  private readVars(buf: Buffer, pos: number): PacketHead {
    const vars = decodeVars(buf, pos, pos + this.datasize);
    const cl = vars.get('CONTENT_LENGTH');
    let contentLength: number;
    if (cl !== undefined) {
      // nginx always sends it (empty for a request without a body): the common case never looks
      // at Transfer-Encoding (security row 2.3), and a GET pays no second scan of the vars.
      contentLength = parseContentLength(cl);
      this.state = State.Body;
    } else {
      contentLength = this.framingWithoutLength(vars);
    }
    this.bodyLeft = contentLength;
    return { modifier1: this.modifier1, modifier2: this.modifier2, datasize: this.datasize, vars, contentLength };
  }

  /**
   * No CONTENT_LENGTH at all: uWSGI's HTTP router passes a chunked request on this way,
   * the body still chunked (with --http-raw-body). -1 for a chunked body, 0 for none; throws
   * when a Transfer-Encoding leaves the body unframeable.
   */
  private framingWithoutLength(vars: UwsgiVars): number {
    const te = vars.get('HTTP_TRANSFER_ENCODING');
    if (te === undefined || te.length === 0) {
      this.state = State.Body;
      return 0;
    }
    if (!transferCodingIsChunked(te)) throw new PorticoError('PORTICO_ERR_UNSUPPORTED_TRANSFER_ENCODING', `Transfer-Encoding ${JSON.stringify(te.slice(0, 128))}`);
    this.state = State.Chunked;
    const h = this.h;
    this.chunks = new ChunkedDecoder({
      onData: (chunk) => h.onBody(chunk),
      onEnd: () => {
        this.state = State.Done;
        this.chunks = null;
        h.onEnd();
      },
      onError: (err) => this.fail(err),
    });
    return -1;
  }

  private feedChunked(buf: Buffer, pos: number): void {
    if (pos >= buf.length) return;
    const chunks = this.chunks!;
    const first = !this.started;
    this.started = true;
    chunks.push(buf, pos);
    if (first && this.state !== State.Failed) this.h.onChunkedStart?.();
  }

  private feedBody(buf: Buffer, pos: number): void {
    if (this.state !== State.Body) return;
    const avail = buf.length - pos;
    if (avail > 0 && this.bodyLeft > 0) {
      const take = avail < this.bodyLeft ? avail : this.bodyLeft;
      this.bodyLeft -= take;
      this.h.onBody(pos === 0 && take === buf.length ? buf : buf.subarray(pos, pos + take));
    }
    if (this.bodyLeft === 0 && this.state === State.Body) {
      this.state = State.Done;
      this.h.onEnd();
    }
  }

  private fail(err: PorticoError): void {
    this.state = State.Failed;
    this.pending = [];
    this.pendingBytes = 0;
    this.h.onError(err);
  }
}

/** "GET ", "POST", "PUT ", "HEAD"...: an HTTP method where a uwsgi header should be. */
function looksLikeHttp(buf: Buffer): boolean {
  for (let i = 0; i < 4; i++) {
    const c = buf[i]!;
    if (!((c >= 65 && c <= 90) || (c === 32 && i > 0))) return false;
  }
  return true;
}
