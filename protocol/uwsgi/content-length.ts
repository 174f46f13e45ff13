/**
 * CONTENT_LENGTH, when present, is the only authority on how long a uwsgi body is. nginx always
 * sends it (empty for a request without a body) and still forwards HTTP_TRANSFER_ENCODING after
 * de-chunking, so then anything but a plain decimal number means "no body" and
 * Transfer-Encoding is never consulted. Only a packet without it (uWSGI's HTTP
 * router) is framed by Transfer-Encoding: see transferCodingIsChunked.
 */
export function parseContentLength(value: string | undefined): number {
  if (value === undefined || value.length === 0 || value.length > 15) return 0;
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return 0;
    n = n * 10 + c;
  }
  return n;
}

/**
 * Whether a Transfer-Encoding's last coding is chunked (RFC 9112 §6.3: only then does the body
 * end at the last chunk). Codings are case-insensitive, separated by commas with optional spaces.
 */
export function transferCodingIsChunked(value: string): boolean {
  const comma = value.lastIndexOf(',');
  return /^[ \t]*chunked[ \t]*$/i.test(comma === -1 ? value : value.slice(comma + 1));
}
