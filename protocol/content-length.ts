/**
 * CONTENT_LENGTH is the only authority on how long a uwsgi body is. nginx sends it empty for a
 * request without a body and still forwards HTTP_TRANSFER_ENCODING after de-chunking, so anything
 * but a plain decimal number means "no body" and Transfer-Encoding is never consulted.
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
