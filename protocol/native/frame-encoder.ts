import { COALESCE_LIMIT, FRAME_HEADER_SIZE, FrameType, MAX_FRAME_SIZE } from './constants.js';

/** What frames are written to: a net.Socket, or anything with the same write (and cork). */
export interface FrameSink {
  write(chunk: Uint8Array): boolean;
  /** With cork/uncork, a header and its payload leave in one writev instead of two writes. */
  cork?(): void;
  uncork?(): void;
}

export type BodyFrameType = typeof FrameType.RequestBody | typeof FrameType.ResponseBody;

/**
 * Empty frames (the END types, an ABORT without reason) are the same five bytes every time:
 * built once and shared. Safe because nothing ever writes into them.
 */
const emptyFrames = new Map<number, Buffer>();
for (const type of Object.values(FrameType)) {
  const b = Buffer.alloc(FRAME_HEADER_SIZE);
  b[0] = type;
  emptyFrames.set(type, b);
}

/** The 5-byte header alone. A fresh buffer: the socket holds it until flushed. */
export function encodeFrameHeader(type: FrameType, length: number): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
  h[0] = type;
  h.writeUInt32LE(length, 1);
  return h;
}

/** Header and payload in one new buffer (copies the payload): for small frames and tests. */
export function encodeFrame(type: FrameType, payload?: Uint8Array | string): Buffer {
  if (typeof payload === 'string') {
    const n = Buffer.byteLength(payload, 'utf8');
    const out = Buffer.allocUnsafe(FRAME_HEADER_SIZE + n);
    out[0] = type;
    out.writeUInt32LE(n, 1);
    out.write(payload, FRAME_HEADER_SIZE, n, 'utf8');
    return out;
  }
  const n = payload ? payload.length : 0;
  const out = Buffer.allocUnsafe(FRAME_HEADER_SIZE + n);
  out[0] = type;
  out.writeUInt32LE(n, 1);
  if (payload && n > 0) out.set(payload, FRAME_HEADER_SIZE);
  return out;
}

/**
 * Writes one frame. An empty frame is a shared constant; a small payload is copied behind its
 * header and written once; a large one is written as it is after its own header, never copied.
 * Returns what the last write returned: false means wait for 'drain'.
 */
export function writeFrame(sink: FrameSink, type: FrameType, payload?: Uint8Array): boolean {
  if (!payload || payload.length === 0) return sink.write(emptyFrames.get(type)!);
  if (payload.length <= COALESCE_LIMIT) return sink.write(encodeFrame(type, payload));
  sink.cork?.();
  sink.write(encodeFrameHeader(type, payload.length));
  const ok = sink.write(payload);
  sink.uncork?.();
  return ok;
}

/**
 * Writes a piece of body as one frame, or several when it is larger than maxFrameSize (subarrays,
 * no copy). An empty piece writes nothing: an empty body frame means nothing on the wire, and
 * the end of a body is only ever its END frame. A string is encoded straight into the frame
 * buffer when small, so a short text body costs one allocation.
 */
export function writeBody(sink: FrameSink, type: BodyFrameType, chunk: Uint8Array | string, maxFrameSize: number = MAX_FRAME_SIZE): boolean {
  if (typeof chunk === 'string') {
    if (chunk.length === 0) return true;
    // byteLength is at most 3 bytes per UTF-16 unit: skip measuring when it is certainly small.
    if (chunk.length * 3 <= COALESCE_LIMIT || Buffer.byteLength(chunk, 'utf8') <= COALESCE_LIMIT) {
      return sink.write(encodeFrame(type, chunk));
    }
    chunk = Buffer.from(chunk, 'utf8');
  }
  const n = chunk.length;
  if (n <= maxFrameSize) return n === 0 ? true : writeFrame(sink, type, chunk);
  sink.cork?.();
  let ok = true;
  for (let pos = 0; pos < n; pos += maxFrameSize) {
    const piece = chunk.subarray(pos, Math.min(n, pos + maxFrameSize));
    sink.write(encodeFrameHeader(type, piece.length));
    ok = sink.write(piece);
  }
  sink.uncork?.();
  return ok;
}

/** An ABORT frame, with an optional short reason for the peer's log (UTF-8, never parsed). */
export function writeAbort(sink: FrameSink, type: typeof FrameType.RequestAbort | typeof FrameType.ResponseAbort, reason?: string): boolean {
  return sink.write(reason ? encodeFrame(type, reason.slice(0, 1024)) : emptyFrames.get(type)!);
}
