import { COALESCE_LIMIT, MAX_FRAME_SIZE, STREAM_FRAME_HEADER_SIZE, type FrameType } from './constants.js';

/** Where a version 2 link's batches go: a net.Socket. */
interface BatchSink {
  write(chunk: Uint8Array): boolean;
  cork(): void;
  uncork(): void;
  readonly writableLength: number;
  readonly destroyed: boolean;
}

/** Frames of one turn are written into slabs of this size (a bigger one when a frame needs it). */
const SLAB_SIZE = 16 * 1024;
const EMPTY = Buffer.alloc(0);
const H = STREAM_FRAME_HEADER_SIZE;

/**
 * Writes version 2 frames (`u8 type, u32le stream, u32le length, payload`) for a whole event-loop
 * turn at once: frames are encoded straight into a slab, and a setImmediate flushes the turn's
 * frames in one write (a writev when large bodies ride along uncopied). On a busy link that is one
 * syscall for every request or response of the turn instead of one or two each, which is most of
 * what the link costs. A slab the kernel took whole is reused for the next turn.
 */
export class StreamFrameWriter {
  /** The slab being filled: bytes [start, used) are frames not yet handed to a part. */
  slab: Buffer = EMPTY;
  used = 0;
  private start = 0;
  /** Sealed pieces of this turn, in order: slab pieces and large payloads. */
  private readonly parts: Uint8Array[] = [];
  private scheduled = false;
  private readonly sink: BatchSink;
  private readonly flushNow = (): void => this.flush();

  /** Bytes queued (since the last write) at which a commit() writes at once (REQUEST_BATCH_FLUSH). */
  private readonly earlyFlush: number;

  constructor(sink: BatchSink, earlyFlush = Infinity) {
    this.sink = sink;
    this.earlyFlush = earlyFlush;
  }

  /**
   * Makes room for `n` bytes and returns where they go in `this.slab`; write them, then
   * commit(end). The flush is scheduled already.
   */
  reserve(n: number): number {
    if (this.slab.length - this.used < n) this.newSlab(n);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushNow);
    }
    return this.used;
  }

  /** Ends a reserve()d write; past `earlyFlush` queued bytes, writes them now. */
  commit(end: number): void {
    this.used = end;
    if (end - this.start >= this.earlyFlush) this.flush();
  }

  /** Writes a frame header at `pos` of the slab. */
  header(pos: number, type: FrameType, stream: number, length: number): void {
    const s = this.slab;
    s[pos] = type;
    s.writeUInt32LE(stream, pos + 1);
    s.writeUInt32LE(length, pos + 5);
  }

  /** A frame with an optional payload; a large payload is queued as it is, never copied. */
  frame(type: FrameType, stream: number, payload?: Uint8Array): void {
    const n = payload ? payload.length : 0;
    if (n <= COALESCE_LIMIT) {
      const pos = this.reserve(H + n);
      this.header(pos, type, stream, n);
      if (n > 0) this.slab.set(payload!, pos + H);
      this.used = pos + H + n;
      return;
    }
    const pos = this.reserve(H);
    this.header(pos, type, stream, n);
    this.used = pos + H;
    this.seal();
    this.parts.push(payload!);
  }

  /** A frame whose payload is one u32le (credit, GOAWAY). */
  u32(type: FrameType, stream: number, value: number): void {
    const pos = this.reserve(H + 4);
    this.header(pos, type, stream, 4);
    this.slab.writeUInt32LE(value, pos + H);
    this.used = pos + H + 4;
  }

  /** Body bytes as one frame or, past maxFrameSize, several. Nothing for an empty chunk. */
  body(type: FrameType, stream: number, chunk: Uint8Array | string, maxFrameSize: number = MAX_FRAME_SIZE): void {
    if (typeof chunk === 'string') {
      if (chunk.length === 0) return;
      // At most 3 bytes per UTF-16 unit: encode a short string straight into the slab.
      if (chunk.length * 3 <= COALESCE_LIMIT && chunk.length * 3 <= maxFrameSize) {
        const pos = this.reserve(H + chunk.length * 3);
        const n = this.slab.write(chunk, pos + H, 'utf8');
        this.header(pos, type, stream, n);
        this.used = pos + H + n;
        return;
      }
      chunk = Buffer.from(chunk, 'utf8');
    }
    const n = chunk.length;
    if (n <= maxFrameSize) {
      if (n > 0) this.frame(type, stream, chunk);
      return;
    }
    for (let pos = 0; pos < n; pos += maxFrameSize) this.frame(type, stream, chunk.subarray(pos, Math.min(n, pos + maxFrameSize)));
  }

  /** Writes what this turn queued; safe to call early (before an end or a destroy). */
  flush(): void {
    this.scheduled = false;
    this.seal();
    const parts = this.parts;
    if (parts.length === 0) return;
    const sink = this.sink;
    if (sink.destroyed) {
      parts.length = 0;
      return;
    }
    if (parts.length === 1) sink.write(parts[0]!);
    else {
      sink.cork();
      for (let i = 0; i < parts.length; i++) sink.write(parts[i]!);
      sink.uncork();
    }
    parts.length = 0;
    // Taken whole by the kernel: nothing refers to the slab any more, so it serves the next turn.
    if (sink.writableLength === 0) this.used = this.start = 0;
    else this.newSlab(0);
  }

  private seal(): void {
    if (this.used > this.start) this.parts.push(this.slab.subarray(this.start, this.used));
    this.start = this.used;
  }

  private newSlab(n: number): void {
    this.seal();
    this.slab = n === 0 ? EMPTY : Buffer.allocUnsafeSlow(Math.max(SLAB_SIZE, n));
    this.used = this.start = 0;
  }
}

/**
 * The u32le a credit frame carries (REQUEST_CREDIT, RESPONSE_CREDIT): the bytes granted, or 0 for
 * a payload of any other size (the reader that must refuse one checks the size itself).
 */
export function creditOf(payload: Buffer): number {
  return payload.length === 4 ? payload.readUInt32LE(0) : 0;
}
