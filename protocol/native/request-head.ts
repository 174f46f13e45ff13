import { encodePacketHead, type PacketHeadInput } from '../packet-encoder.js';
import { parseContentLength } from '../content-length.js';
import { decodeVars } from '../vars-decoder.js';
import type { UwsgiVars } from '../uwsgi-vars.js';
import { FrameType } from './constants.js';
import { writeFrame, type FrameSink } from './frame-encoder.js';

export interface NativeRequestHead {
  vars: UwsgiVars;
  /**
   * CONTENT_LENGTH when it is a decimal number, else null. On the native link the body is always
   * framed and ends at REQUEST_END, so this only tells the app (and lets the worker check the
   * frames against it); null means a body of unknown length, such as a chunked upload.
   */
  contentLength: number | null;
}

/**
 * Writes a REQUEST_HEAD frame: the vars block exactly as a uwsgi packet carries it (the same
 * encoder, so the same limits and the same vars as nginx's uwsgi_params), without the 4-byte
 * uwsgi header: the frame header states the length instead.
 */
export function writeRequestHead(sink: FrameSink, vars: PacketHeadInput['vars']): boolean {
  const packet = encodePacketHead({ vars });
  return writeFrame(sink, FrameType.RequestHead, packet.subarray(4));
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
