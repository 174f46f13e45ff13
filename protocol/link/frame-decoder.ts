import { PorticoError } from '../../common/errors.js';
import { FRAME_HEADER_SIZE, FrameType, MAX_FRAME_SIZE, STREAM_FRAME_HEADER_SIZE, isBodyFrame } from './constants.js';

interface FrameDecoderHandlers {
  /**
   * A frame. Body frames (REQUEST_BODY, RESPONSE_BODY) are passed on piece by piece as bytes
   * arrive, each piece a subarray of a pushed chunk, never copied: safe to keep. Other frames
   * arrive whole; their payload is a subarray of the chunk when it came in one, else it was put
   * together in a buffer the decoder reuses: valid only during the call (decode it there).
   * `stream` is the frame's stream id (0 for HELLO_ACK).
   */
  onFrame(type: FrameType, payload: Buffer, stream: number): void;
  /** After an error the decoder ignores further bytes: close the connection. */
  onError(err: PorticoError): void;
}

/**
 * Which end owns the decoder. 'worker' reads the gateway's frames (REQUEST_*, RESPONSE_CREDIT);
 * 'gateway' reads HELLO_ACK (the one frame without a stream id) first, then the worker's
 * (RESPONSE_*, REQUEST_CREDIT, GOAWAY). The order within a stream is the owner's to check.
 * Without a side, any known frame type is accepted, all with stream ids (tests, tools).
 */
export type FrameSide = 'worker' | 'gateway';

interface FrameDecoderOptions {
  /** Largest payload accepted; a bigger frame is PORTICO_ERR_NATIVE_FRAME_TOO_BIG before any of it is read. */
  maxFrameSize?: number;
  side?: FrameSide;
}

const enum Phase {
  Header,
  Control,
  Body,
  Failed,
}
const enum Seq {
  Unchecked,
  AwaitAck,
  Streams,
}

const KNOWN_TYPES: ReadonlySet<number> = new Set(Object.values(FrameType));
const EMPTY = Buffer.alloc(0);
/** A control-frame buffer larger than this is dropped after use, not kept for the connection's life. */
const RETAIN_SCRATCH = 64 * 1024;

/** What each side reads after the handshake: the peer's frames, credit for its own sends, and (gateway) GOAWAY. */
const WORKER_READS: ReadonlySet<number> = new Set([1, 2, 3, 4, FrameType.ResponseCredit]);
const GATEWAY_READS: ReadonlySet<number> = new Set([17, 18, 19, 20, FrameType.RequestCredit, FrameType.GoAway]);

/**
 * Incremental decoder for native-link frames (`u8 type, u32le stream, u32le length, payload`;
 * HELLO_ACK has no stream id) on a byte stream:
 * split at any byte boundary, it decodes the same. Nothing is allocated per frame but the
 * subarrays handed out, and a control frame split across chunks (one buffer, reused).
 */
export class FrameDecoder {
  private phase = Phase.Header;
  private seq: Seq;
  /** What this side reads after the handshake; null without a side. */
  private readonly reads: ReadonlySet<number> | null;
  private readonly header = Buffer.alloc(STREAM_FRAME_HEADER_SIZE);
  private headerSize = STREAM_FRAME_HEADER_SIZE;
  private headerHave = 0;
  private type = 0;
  private stream = 0;
  /** Body: bytes of the frame still to come. Control: the payload's length. */
  private left = 0;
  private have = 0;
  private scratch: Buffer = EMPTY;
  private readonly maxFrameSize: number;
  private readonly h: FrameDecoderHandlers;

  constructor(handlers: FrameDecoderHandlers, options: FrameDecoderOptions = {}) {
    this.h = handlers;
    this.maxFrameSize = options.maxFrameSize ?? MAX_FRAME_SIZE;
    this.reads = options.side === 'worker' ? WORKER_READS : options.side === 'gateway' ? GATEWAY_READS : null;
    this.seq = options.side === 'gateway' ? Seq.AwaitAck : options.side === 'worker' ? Seq.Streams : Seq.Unchecked;
    if (this.seq === Seq.AwaitAck) this.headerSize = FRAME_HEADER_SIZE;
  }

  get failed(): boolean {
    return this.phase === Phase.Failed;
  }

  push(chunk: Buffer): void {
    const len = chunk.length;
    let pos = 0;
    while (pos < len) {
      const phase = this.phase;
      if (phase === Phase.Body) {
        const take = len - pos < this.left ? len - pos : this.left;
        const piece = pos === 0 && take === len ? chunk : chunk.subarray(pos, pos + take);
        pos += take;
        this.left -= take;
        if (this.left === 0) this.phase = Phase.Header;
        this.h.onFrame(this.type as FrameType, piece, this.stream);
      } else if (phase === Phase.Header) {
        // The header is read where it is, or from `header` once a split one is whole.
        const size = this.headerSize;
        let src = chunk;
        let at = pos;
        if (this.headerHave === 0 && len - pos >= size) pos += size;
        else {
          const n = Math.min(size - this.headerHave, len - pos);
          chunk.copy(this.header, this.headerHave, pos, pos + n);
          this.headerHave += n;
          pos += n;
          if (this.headerHave < size) return;
          this.headerHave = 0;
          src = this.header;
          at = 0;
        }
        const type = src[at]!;
        if (size !== FRAME_HEADER_SIZE) this.stream = src.readUInt32LE(at + 1);
        const length = src.readUInt32LE(at + size - 4);
        if (!this.begin(type, length)) return;
        if (length === 0 && this.phase === Phase.Header && !isBodyFrame(type)) this.h.onFrame(type as FrameType, EMPTY, this.stream);
      } else if (phase === Phase.Control) {
        pos = this.control(chunk, pos);
      } else {
        return;
      }
    }
  }

  /** The peer closed its side: fine between frames (open streams are the owner's), an error inside one. */
  end(): void {
    if (this.phase === Phase.Failed) return;
    if (this.phase !== Phase.Header || this.headerHave > 0) {
      const missing = this.phase === Phase.Header ? this.headerSize - this.headerHave : this.left - this.have;
      this.fail('PORTICO_ERR_NATIVE_TRUNCATED', `inside a frame, ${missing} bytes missing`);
    } else if (this.seq === Seq.AwaitAck) {
      this.fail('PORTICO_ERR_NATIVE_HANDSHAKE', 'the peer closed before HELLO_ACK: it does not speak the native link (real uWSGI, or a portico worker without it)');
    }
  }

  /** Stops decoding for good, without an error: further pushes are ignored. */
  stop(): void {
    this.phase = Phase.Failed;
    this.scratch = EMPTY;
  }

  /** Checks a frame header and moves to reading its payload. False when it failed. */
  private begin(type: number, length: number): boolean {
    if (!KNOWN_TYPES.has(type)) return this.fail('PORTICO_ERR_NATIVE_BAD_FRAME', `unknown frame type ${type}`);
    if (length > this.maxFrameSize) {
      return this.fail('PORTICO_ERR_NATIVE_FRAME_TOO_BIG', `${frameTypeName(type)} of ${length} bytes (max ${this.maxFrameSize})`);
    }
    if ((type === FrameType.RequestEnd || type === FrameType.ResponseEnd) && length !== 0) {
      return this.fail('PORTICO_ERR_NATIVE_BAD_FRAME', `${frameTypeName(type)} with a ${length}-byte payload`);
    }
    if (this.seq !== Seq.Unchecked && !this.advance(type)) return false;
    this.type = type;
    if (length === 0) return true;
    this.left = length;
    this.have = 0;
    this.phase = isBodyFrame(type) ? Phase.Body : Phase.Control;
    return true;
  }

  /** Whether this side reads `type` now. HELLO_ACK switches to stream frames from the next header on. */
  private advance(type: number): boolean {
    if (this.seq === Seq.Streams) {
      if (this.reads!.has(type)) return true;
    } else if (type === FrameType.HelloAck) {
      this.seq = Seq.Streams;
      this.headerSize = STREAM_FRAME_HEADER_SIZE;
      return true;
    }
    return this.fail('PORTICO_ERR_NATIVE_BAD_FRAME', `${frameTypeName(type)} ${this.seq === Seq.AwaitAck ? 'before HELLO_ACK' : `sent to the ${this.reads === WORKER_READS ? 'worker' : 'gateway'}`}`);
  }

  /** Reads a control frame's payload from chunk[pos...]; returns the new position. */
  private control(chunk: Buffer, pos: number): number {
    const avail = chunk.length - pos;
    const length = this.left;
    if (this.have === 0 && avail >= length) {
      this.phase = Phase.Header;
      this.h.onFrame(this.type as FrameType, chunk.subarray(pos, pos + length), this.stream);
      return pos + length;
    }
    if (this.have === 0 && this.scratch.length < length) this.scratch = Buffer.allocUnsafe(Math.max(length, 1024));
    const n = Math.min(length - this.have, avail);
    chunk.copy(this.scratch, this.have, pos, pos + n);
    this.have += n;
    if (this.have === length) {
      this.phase = Phase.Header;
      this.have = 0;
      const payload = this.scratch.subarray(0, length);
      if (this.scratch.length > RETAIN_SCRATCH) this.scratch = EMPTY;
      this.h.onFrame(this.type as FrameType, payload, this.stream);
    }
    return pos + n;
  }

  private fail(code: 'PORTICO_ERR_NATIVE_BAD_FRAME' | 'PORTICO_ERR_NATIVE_FRAME_TOO_BIG' | 'PORTICO_ERR_NATIVE_TRUNCATED' | 'PORTICO_ERR_NATIVE_HANDSHAKE', detail: string): false {
    this.phase = Phase.Failed;
    this.scratch = EMPTY;
    this.h.onError(new PorticoError(code, detail));
    return false;
  }
}

/** Human name of a frame type, for error messages. */
function frameTypeName(type: number): string {
  for (const [name, value] of Object.entries(FrameType)) if (value === type) return name;
  return `unknown(${type})`;
}
