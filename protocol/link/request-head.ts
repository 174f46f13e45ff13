import { varsBlockRoom, writeVarsBlock } from '../uwsgi/packet-encoder.js';
import { parseContentLength } from '../uwsgi/content-length.js';
import { decodeVars } from '../uwsgi/vars-decoder.js';
import type { UwsgiVars } from '../uwsgi/uwsgi-vars.js';
import { FrameType, STREAM_FRAME_HEADER_SIZE } from './constants.js';
import type { StreamFrameWriter } from './frame-writer.js';

export interface NativeRequestHead {
  vars: UwsgiVars;
  /**
   * CONTENT_LENGTH when it is a decimal number, else null. On the native link the body is always
   * framed and ends at REQUEST_END, so this only tells the app (and lets the worker check the
   * frames against it); null means a body of unknown length, such as a chunked upload.
   */
  contentLength: number | null;
}

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
  const room = varsBlockRoom(flat);
  const H = STREAM_FRAME_HEADER_SIZE;
  const at = writer.reserve(H + room + H);
  let pos = writeVarsBlock(writer.slab, at + H, flat);
  writer.header(at, FrameType.RequestHead, stream, pos - at - H);
  if (end) {
    writer.header(pos, FrameType.RequestEnd, stream, 0);
    pos += H;
  }
  writer.commit(pos);
}
