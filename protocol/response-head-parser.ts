import { PorticoError } from '../common/errors.js';
import { isFinalStatus } from './http-response.js';

export interface ResponseHead {
  httpVersion: string;
  status: number;
  statusText: string;
  /** Header pairs in wire order; repeated headers (Set-Cookie) stay separate. */
  headers: Array<[string, string]>;
  /** Bytes of the status line and headers, including the blank line. */
  size: number;
}

const MAX_HEAD = 64 * 1024;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: ([^\r\n\0]*))?$/;

/**
 * Parses the HTTP/1.x head that a uwsgi server writes back (status line, headers, blank line).
 * Strict on purpose: a CR, LF or NUL inside a line, a header without a colon or a bad status
 * line is a malformed response, never guessed at (CVE-2023-27522 came from leniency here).
 * Returns null while the head is incomplete. `switching`: a 101 is taken too (the answer to an
 * upgrade, after which the connection carries another protocol).
 */
export function parseResponseHead(buf: Buffer, options: { switching?: boolean } = {}): ResponseHead | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) {
    if (buf.length > MAX_HEAD) throw bad(`response head larger than ${MAX_HEAD} bytes`);
    return null;
  }
  const text = buf.latin1Slice(0, end);
  const lines = text.split('\r\n');
  const statusLine = lines[0]!;
  const m = STATUS_LINE.exec(statusLine);
  if (!m) throw bad(`bad status line ${JSON.stringify(statusLine.slice(0, 80))}`);
  // A 1xx as the whole answer, or a status Node cannot send: what would the client make of it?
  if (!isFinalStatus(Number(m[1])) && !(options.switching === true && m[1] === '101')) throw bad(`status ${m[1]} is not a final status (200-599)`);
  const headers: Array<[string, string]> = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) throw bad(`header line without a name ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw bad(`invalid header name ${JSON.stringify(name.slice(0, 80))}`);
    const value = line.slice(colon + 1).trim();
    if (/[\r\n\0]/.test(value)) throw bad(`forbidden character in header ${name}`);
    headers.push([name, value]);
  }
  return {
    httpVersion: statusLine.slice(5, 8),
    status: Number(m[1]),
    statusText: m[2] ?? '',
    headers,
    size: end + 4,
  };
}

function bad(detail: string): PorticoError {
  return new PorticoError('PORTICO_ERR_BAD_RESPONSE', detail);
}
