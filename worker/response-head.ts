import { STATUS_CODES } from 'node:http';
import { PorticoError } from '../common/errors.js';
import { isFinalStatus } from '../protocol/http-status.js';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE = /[\r\n\0]/;

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
  if (BAD_VALUE.test(reason)) throw invalid('status text');
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (!TOKEN.test(name)) throw invalid(`header name ${JSON.stringify(name)}`);
    if (BAD_VALUE.test(headers[i + 1]!)) throw invalid(`value of header ${name}`);
  }
  return reason;
}

function invalid(what: string): PorticoError {
  return new PorticoError('PORTICO_ERR_INVALID_HEADER', what);
}
