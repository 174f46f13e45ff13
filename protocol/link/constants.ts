/**
 * The native link: portico's keep-alive protocol between the gateway and its workers
 * (docs/protocol.md). It starts as a uwsgi packet on the socket nginx also uses, so a worker serves
 * both on one socket and tells them apart by the first byte.
 */

/**
 * modifier1 of the HELLO packet that opens a native link: unassigned in uWSGI's table, so nginx
 * never sends it and real uWSGI refuses it (docs/protocol.md). It is "M" in ASCII, but the HELLO's
 * modifier2 is 0, so the packet never looks like an HTTP method to the uwsgi decoder's HTTP check.
 */
export const NATIVE_MODIFIER1 = 77;

/** modifier2 of the HELLO packet; other values are reserved. */
export const NATIVE_MODIFIER2 = 0;

/**
 * The framing version: many requests at once on one connection, each frame carrying a stream id,
 * both sides batching a turn's frames into one write. The HELLO's PORTICO_LINK says it; a worker
 * refuses any other with PORTICO_ERR_NATIVE_HANDSHAKE (docs/protocol.md).
 */
export const LINK_VERSION = 2;

/** Frames after HELLO_ACK start with `u8 type, u32le stream id, u32le payload length`. */
export const STREAM_FRAME_HEADER_SIZE = 9;

/**
 * Response body bytes a worker may send on one stream before the gateway credits more. A hello
 * world never comes near it, so it costs no credit frame; a large download is credited in halves
 * as the client takes it, and a stalled client holds at most this much in the gateway.
 */
export const RESPONSE_WINDOW = 256 * 1024;

/** Request body bytes a gateway may send on one stream before the worker credits more. */
export const REQUEST_WINDOW = 64 * 1024;

/**
 * The gateway writes a turn's requests as soon as this many bytes are queued, not only at the end
 * of the turn, so the worker starts on them while the gateway parses the rest (docs/protocol.md,
 * Batching: 38.1k req/s against 29.3k; 1 KiB gave 35.3k, 2 KiB 38.4k, 8 KiB 34.1k).
 */
export const REQUEST_BATCH_FLUSH = 4096;

/** HELLO_ACK, the one frame without a stream id, starts with `u8 type, u32le payload length`. */
export const FRAME_HEADER_SIZE = 5;

/**
 * Largest payload a decoder accepts by default, and the size writers split bodies at. A head
 * (vars block or Avro record) is far smaller; bodies stream in as many frames as they need.
 */
export const MAX_FRAME_SIZE = 1024 * 1024;

/**
 * Payloads up to this size are copied into the turn's batch; larger ones are written after their
 * own header, never copied.
 */
export const COALESCE_LIMIT = 4096 - FRAME_HEADER_SIZE;

/**
 * Frame types. 0 is never a frame, so a zeroed buffer cannot pass for one. Gateway → worker types
 * are 1-4, worker → gateway 16-20, so a decoder knows a frame from the wrong direction.
 */
export const FrameType = {
  /** Payload: a uwsgi vars block. CONTENT_LENGTH, when a number, only informs the app. */
  RequestHead: 1,
  /** Payload: request body bytes. */
  RequestBody: 2,
  /** Empty: the request body is complete. */
  RequestEnd: 3,
  /** Optional UTF-8 reason: the client went away. Also sent after RequestEnd to cancel. */
  RequestAbort: 4,
  /** u32le bytes the worker may send on the stream beyond its window so far. */
  ResponseCredit: 5,
  /** The worker's answer to HELLO: accepted (schema version, fingerprint, schema) or refused. */
  HelloAck: 16,
  /** Payload: the response head as an Avro record in the schema announced in HelloAck. */
  ResponseHead: 17,
  /** Payload: response body bytes. */
  ResponseBody: 18,
  /** Empty: the response is complete; the stream is over once the request is too. */
  ResponseEnd: 19,
  /** Optional UTF-8 reason: the worker failed mid-response; the gateway aborts the client. */
  ResponseAbort: 20,
  /** u32le request body bytes the gateway may send on the stream beyond its window so far. */
  RequestCredit: 21,
  /**
   * Stream 0: u32le, the last stream id the worker took. The worker is stopping: it
   * finishes those and takes no more; streams above it were never seen and may be sent elsewhere.
   */
  GoAway: 22,
} as const;

export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Body frames are streamed through the decoder piece by piece; all others arrive whole. */
export function isBodyFrame(type: number): boolean {
  return type === FrameType.RequestBody || type === FrameType.ResponseBody;
}
