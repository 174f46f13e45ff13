import { STATUS_CODES } from 'node:http';
import { PorticoError } from '../../common/errors.js';
import { isEventStream, isFinalStatus, isHopByHop, splitsHead } from '../../protocol/http/http-response.js';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Serializes the HTTP/1.1 status line and headers that a uwsgi server writes back and nginx's
 * uwsgi module parses. Header pairs come flat (name, value, name, value...) so repeated headers,
 * Set-Cookie above all, are written one line each and never merged. A CR, LF or NUL anywhere in a
 * name or value is refused: it would let an app (or its user's input) split the response.
 */
export function serializeHead(status: number, statusText: string | undefined, headers: readonly string[]): string {
  let out = `HTTP/1.1 ${status} ${validateHeaders(status, statusText, headers)}\r\n`;
  for (let i = 0; i < headers.length; i += 2) out += headers[i]! + ': ' + headers[i + 1]! + '\r\n';
  return out + '\r\n';
}

/**
 * The checks every response head passes, whichever link carries it: a final status, the reason phrase and values
 * without CR, LF or NUL, names that are HTTP tokens. The native link's Avro head could carry them,
 * but the gateway turns them back into HTTP. Returns the reason phrase to send.
 */
export function validateHeaders(status: number, statusText: string | undefined, headers: readonly string[]): string {
  if (!isFinalStatus(status)) throw new PorticoError('PORTICO_ERR_INVALID_STATUS', `${status} (an app's answer must be a final status, 200-599)`);
  const reason = statusText || STATUS_CODES[status] || 'Unknown';
  if (splitsHead(reason)) throw invalid('status text');
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (!TOKEN.test(name)) throw invalid(`header name ${JSON.stringify(name)}`);
    if (splitsHead(headers[i + 1]!)) throw invalid(`value of header ${name}`);
  }
  return reason;
}

function invalid(what: string): PorticoError {
  return new PorticoError('PORTICO_ERR_INVALID_HEADER', what);
}

/**
 * An app's headers as its link carries them. Hop-by-hop ones are dropped (RFC 9110 §7.6.1): the
 * link frames the body itself (raw and close-delimited on uwsgi, frames on the native link), so an
 * app's own `Transfer-Encoding: chunked` (Hono's streamSSE, @hono/node-server) or `Connection`
 * would make nginx or the gateway read the body wrongly. An event stream gets
 * `X-Accel-Buffering: no` unless it says otherwise, so nginx (uwsgi_pass or proxy_pass) passes
 * each event on as it comes instead of buffering them. The same array when nothing changes.
 */
export function linkHeaders(headers: readonly string[]): readonly string[] {
  let drop = false;
  let eventStream = false;
  let accel = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    const n = name.length;
    if (isHopByHop(name)) drop = true;
    else if (n === 12 && name.toLowerCase() === 'content-type') {
      eventStream = isEventStream(headers[i + 1]!);
    } else if (n === 17 && name.toLowerCase() === 'x-accel-buffering') accel = true;
  }
  const addAccel = eventStream && !accel;
  if (!drop && !addAccel) return headers;
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (!isHopByHop(headers[i]!)) out.push(headers[i]!, headers[i + 1]!);
  if (addAccel) out.push('X-Accel-Buffering', 'no');
  return out;
}
