import { encodePacketHead } from '../packet-encoder.js';
import { parseContentLength } from '../content-length.js';
import { decodeVars } from '../vars-decoder.js';
import type { UwsgiVars } from '../uwsgi-vars.js';
import { FrameType, STREAM_FRAME_HEADER_SIZE } from './constants.js';
import type { StreamFrameWriter } from './stream-writer.js';

export interface NativeRequestHead {
  vars: UwsgiVars;
  /**
   * CONTENT_LENGTH when it is a decimal number, else null. On the native link the body is always
   * framed and ends at REQUEST_END, so this only tells the app (and lets the worker check the
   * frames against it); null means a body of unknown length, such as a chunked upload.
   */
  contentLength: number | null;
}

const U16_MAX = 0xffff;

/** Decodes a REQUEST_HEAD payload. A lying var length is PORTICO_ERR_BAD_VAR_LENGTH, as on the uwsgi socket. */
export function decodeRequestHead(payload: Buffer): NativeRequestHead {
  const vars = decodeVars(payload, 0, payload.length);
  const raw = vars.get('CONTENT_LENGTH');
  let contentLength: number | null = null;
  if (raw !== undefined && raw.length > 0) {
    const n = parseContentLength(raw);
    // parseContentLength says 0 for anything that is not a number: only "0" itself is a zero.
    if (n > 0 || raw === '0') contentLength = n;
  }
  return { vars, contentLength };
}

/**
 * The request's REQUEST_HEAD (and, for a request without a body, its REQUEST_END) on stream
 * `stream`, encoded straight into the link's batch: the vars block exactly as a uwsgi packet
 * carries it (same limits, same vars as nginx's uwsgi_params), without the 4-byte uwsgi header.
 */
export function queueStreamRequest(writer: StreamFrameWriter, stream: number, vars: UwsgiVars, end: boolean): void {
  const flat = vars.flat;
  let worst = 0;
  for (let i = 0; i < flat.length; i++) worst += 2 + flat[i]!.length * 3;
  if (worst > U16_MAX) return queueStreamRequestSlow(writer, stream, vars, end);
  const H = STREAM_FRAME_HEADER_SIZE;
  const at = writer.reserve(H + worst + H);
  const slab = writer.slab;
  let pos = at + H;
  for (let i = 0; i < flat.length; i++) {
    const n = writeVarString(slab, flat[i]!, pos + 2);
    slab[pos] = n & 0xff;
    slab[pos + 1] = n >>> 8;
    pos += 2 + n;
  }
  writer.header(at, FrameType.RequestHead, stream, pos - at - H);
  if (end) {
    writer.header(pos, FrameType.RequestEnd, stream, 0);
    pos += H;
  }
  writer.commit(pos);
}

/** A head that might pass the uwsgi limits: the measuring encoder checks it (and throws its error). */
function queueStreamRequestSlow(writer: StreamFrameWriter, stream: number, vars: UwsgiVars, end: boolean): void {
  const block = encodePacketHead({ vars }).subarray(4);
  writer.frame(FrameType.RequestHead, stream, block);
  if (end) writer.frame(FrameType.RequestEnd, stream);
}

/** Below this length a string is copied in JavaScript: cheaper than a call into C++ for each. */
const SHORT_STRING = 48;

/**
 * Writes `s` as UTF-8 at `pos` and returns its byte length. Most vars are short ASCII (names,
 * method, ports, most header values): those are copied char by char, and anything else goes to
 * Buffer#write, so the bytes are always Buffer#write's.
 */
function writeVarString(buf: Buffer, s: string, pos: number): number {
  const n = s.length;
  if (n < SHORT_STRING) {
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) break;
      buf[pos + i] = c;
    }
    if (i === n) return n;
  }
  return buf.write(s, pos, 'utf8');
}
