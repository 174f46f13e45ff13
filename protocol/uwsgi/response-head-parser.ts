import { PorticoError } from '../../common/errors.js';
import { isFinalStatus, splitsHead } from '../http/http-response.js';

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
    if (splitsHead(value)) throw bad(`forbidden character in header ${name}`);
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

const STATUS_PREFIX = Buffer.from('HTTP/1.', 'latin1');

/**
 * Whether `buf` can still be the start of what a uwsgi server writes back: its status line always
 * begins "HTTP/1." (uWSGI echoes SERVER_PROTOCOL, which the gateway sets from an HTTP/1.x client).
 * false as soon as one byte says otherwise, so a TLS alert, an HTTP/2 frame or a banner is told
 * apart at once rather than at the close or the timeout.
 */
export function mayBeResponseStart(buf: Buffer): boolean {
  const n = buf.length < STATUS_PREFIX.length ? buf.length : STATUS_PREFIX.length;
  for (let i = 0; i < n; i++) if (buf[i] !== STATUS_PREFIX[i]) return false;
  return true;
}

/**
 * What HTTP servers answer bytes they cannot read as a request (to them a uwsgi packet is one,
 * from its first byte, a NUL): a bad request, a request line or head too long, no line in time,
 * an unknown method or version.
 */
const REFUSAL_STATUSES: ReadonlySet<number> = new Set([400, 408, 414, 431, 501, 505]);

/**
 * An HTTP server's refusal of the request it could not parse, as Node and nginx (tested), Go's
 * net/http and gunicorn send it: one of those statuses with `Connection: close`. No uwsgi response carries Connection (a hop-by-hop header: PEP 3333 forbids
 * it to WSGI apps, portico's worker drops it from any app), so the pair names an HTTP server.
 * Returns the status line and header as seen, or null.
 */
export function httpServerRefusal(head: ResponseHead): string | null {
  if (!REFUSAL_STATUSES.has(head.status)) return null;
  for (const [name, value] of head.headers) {
    if (name.length === 10 && name.toLowerCase() === 'connection' && /(?:^|,)\s*close\s*(?:,|$)/i.test(value)) {
      const reason = head.statusText.replace(/[^\x20-\x7e]/g, '?');
      return `"HTTP/${head.httpVersion} ${head.status}${reason ? ` ${reason}` : ''}" with Connection: close`;
    }
  }
  return null;
}

/**
 * The question a line about bytes no status line starts with asks. An HTML page is an HTTP server
 * answering the way of HTTP/0.9, without a status line (Python's http.server does so when the
 * bytes before a newline in a uwsgi packet read as a request line of two words).
 */
export function guessNonHttpServer(bytes: Buffer): string {
  return bytes[0] === 0x3c ? 'is it an HTTP server (a page without a status line, as HTTP/0.9 answers)' : 'is it a server of another protocol (TLS, HTTP/2, a database)';
}

/** Up to `max` bytes for a log line: printable ASCII as is, anything else as \xNN. */
export function showBytes(buf: Buffer, max = 32): string {
  let out = '';
  const n = buf.length < max ? buf.length : max;
  for (let i = 0; i < n; i++) {
    const b = buf[i]!;
    out += b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return `"${out}${buf.length > max ? '...' : ''}"`;
}
