import { PorticoError } from '../../common/errors.js';
import { FRAME_HEADER_SIZE, FrameType, MAX_FRAME_SIZE, STREAM_FRAME_HEADER_SIZE, frameTypeName, isBodyFrame } from './constants.js';

export interface FrameDecoderHandlers {
  /**
   * A frame. Body frames (REQUEST_BODY, RESPONSE_BODY) are passed on piece by piece as bytes
   * arrive, each piece a subarray of a pushed chunk, never copied: safe to keep. Other frames
   * arrive whole; their payload is a subarray of the chunk when it came in one, else it was put
   * together in a buffer the decoder reuses: valid only during the call (decode it there).
   * `stream` is the frame's stream id on a version 2 link, else 0.
   */
  onFrame(type: FrameType, payload: Buffer, stream: number): void;
  /** After an error the decoder ignores further bytes: close the connection. */
  onError(err: PorticoError): void;
}

/**
 * Which end owns the decoder. 'worker' reads the gateway's frames (REQUEST_*); 'gateway' reads
 * HELLO_ACK first, then the worker's (RESPONSE_*). Either way the order within a request is
 * checked: HEAD, BODY*, then END or ABORT; an ABORT between requests is a cancel that crossed the
 * peer's END on the wire, and is passed on for the owner to ignore. Without a side, any known
 * frame type is accepted in any order (tests, tools).
 */
export type FrameSide = 'worker' | 'gateway';

export interface FrameDecoderOptions {
  /** Largest payload accepted; a bigger frame is PORTICO_ERR_NATIVE_FRAME_TOO_BIG before any of it is read. */
  maxFrameSize?: number;
  side?: FrameSide;
  /** Version 2 frames (with a stream id) from the first byte: the worker, after a HELLO offering them. */
  streams?: boolean;
}

const enum Phase { Header, Control, Body, Failed }
/** Streams: version 2, where the order is per stream and the owner checks it. */
const enum Seq { Unchecked, AwaitAck, Idle, Open, Streams }

const KNOWN_TYPES: ReadonlySet<number> = new Set(Object.values(FrameType));
const EMPTY = Buffer.alloc(0);
/** A control-frame buffer larger than this is dropped after use, not kept for the connection's life. */
const RETAIN_SCRATCH = 64 * 1024;

/** The four frame types one side reads within a request. */
interface Lane { head: number; body: number; end: number; abort: number }
const REQUEST_LANE: Lane = { head: FrameType.RequestHead, body: FrameType.RequestBody, end: FrameType.RequestEnd, abort: FrameType.RequestAbort };
const RESPONSE_LANE: Lane = { head: FrameType.ResponseHead, body: FrameType.ResponseBody, end: FrameType.ResponseEnd, abort: FrameType.ResponseAbort };
/** What each side reads on a version 2 link: its lane, credit for its own sends, and (gateway) GOAWAY. */
const WORKER_READS: ReadonlySet<number> = new Set([1, 2, 3, 4, FrameType.ResponseCredit]);
const GATEWAY_READS: ReadonlySet<number> = new Set([17, 18, 19, 20, FrameType.RequestCredit, FrameType.GoAway]);

/**
 * Incremental decoder for native-link frames (`u8 type, u32le length, payload`) on a byte stream:
 * split at any byte boundary, it decodes the same. Nothing is allocated per frame but the
 * subarrays handed out, and a control frame split across chunks (one buffer, reused).
 */
export class FrameDecoder {
  private phase = Phase.Header;
  private seq: Seq;
  private readonly lane: Lane | null;
  private readonly header = Buffer.alloc(STREAM_FRAME_HEADER_SIZE);
  private headerSize = FRAME_HEADER_SIZE;
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
    this.lane = options.side === 'worker' ? REQUEST_LANE : options.side === 'gateway' ? RESPONSE_LANE : null;
    this.seq = options.side === 'gateway' ? Seq.AwaitAck : options.side === 'worker' ? Seq.Idle : Seq.Unchecked;
    if (options.streams) this.useStreams();
  }

  /**
   * From the next frame on, version 2 frames. The gateway calls it from HELLO_ACK's onFrame, so
   * frames in the same chunk after the ACK are already read as version 2.
   */
  useStreams(): void {
    this.headerSize = STREAM_FRAME_HEADER_SIZE;
    if (this.lane) this.seq = Seq.Streams;
  }

  /** No partial frame and no request or response open: the connection can be reused or closed. */
  get idle(): boolean {
    return this.phase === Phase.Header && this.headerHave === 0 && this.seq !== Seq.Open;
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
        let type: number;
        let length: number;
        const size = this.headerSize;
        if (this.headerHave === 0 && len - pos >= size) {
          type = chunk[pos]!;
          if (size === FRAME_HEADER_SIZE) length = chunk.readUInt32LE(pos + 1);
          else {
            this.stream = chunk.readUInt32LE(pos + 1);
            length = chunk.readUInt32LE(pos + 5);
          }
          pos += size;
        } else {
          const n = Math.min(size - this.headerHave, len - pos);
          chunk.copy(this.header, this.headerHave, pos, pos + n);
          this.headerHave += n;
          pos += n;
          if (this.headerHave < size) return;
          this.headerHave = 0;
          type = this.header[0]!;
          if (size === FRAME_HEADER_SIZE) length = this.header.readUInt32LE(1);
          else {
            this.stream = this.header.readUInt32LE(1);
            length = this.header.readUInt32LE(5);
          }
        }
        if (!this.begin(type, length)) return;
        if (length === 0 && this.phase === Phase.Header && !isBodyFrame(type)) this.h.onFrame(type as FrameType, EMPTY, this.stream);
      } else if (phase === Phase.Control) {
        pos = this.control(chunk, pos);
      } else {
        return;
      }
    }
  }

  /** The peer closed its side: fine between requests, an error inside a frame or an exchange. */
  end(): void {
    if (this.phase === Phase.Failed) return;
    if (this.phase !== Phase.Header || this.headerHave > 0) {
      const missing = this.phase === Phase.Header ? this.headerSize - this.headerHave : this.left - this.have;
      this.fail('PORTICO_ERR_NATIVE_TRUNCATED', `inside a frame, ${missing} bytes missing`);
    } else if (this.seq === Seq.Open) {
      this.fail('PORTICO_ERR_NATIVE_TRUNCATED', `before the ${this.lane === REQUEST_LANE ? 'request' : 'response'} ended`);
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

  /** The per-request order: one transition per frame, a few compares. */
  private advance(type: number): boolean {
    const lane = this.lane!;
    const seq = this.seq;
    if (seq === Seq.Streams) {
      if ((lane === REQUEST_LANE ? WORKER_READS : GATEWAY_READS).has(type)) return true;
    } else if (seq === Seq.AwaitAck) {
      if (type === FrameType.HelloAck) {
        this.seq = Seq.Idle;
        return true;
      }
    } else if (seq === Seq.Idle) {
      if (type === lane.head) {
        this.seq = Seq.Open;
        return true;
      }
      if (type === lane.abort) return true;
    } else if (type === lane.body) {
      return true;
    } else if (type === lane.end || type === lane.abort) {
      this.seq = Seq.Idle;
      return true;
    }
    const where = seq === Seq.Streams ? 'on a version 2 link' : seq === Seq.AwaitAck ? 'before HELLO_ACK' : seq === Seq.Idle ? 'between requests' : 'inside a request';
    return this.fail('PORTICO_ERR_NATIVE_BAD_FRAME', `${frameTypeName(type)} ${where}`);
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
