/**
 * The response facts every response writer and reader shares (RFC 9110), in one place: the
 * gateway's forwarders, the worker's sinks and adapters and the uwsgi client all ask these.
 */

/**
 * A status that may end a response: 200-599. 1xx are interim (a 1xx sent as the whole answer
 * leaves the client waiting and shifts every later response on a pipelined connection), and RFC
 * 9110 calls anything outside 100-599 invalid (Node's writeHead throws below 100).
 */
export function isFinalStatus(status: number): boolean {
  return Number.isInteger(status) && status >= 200 && status <= 599;
}

/** Statuses whose responses never carry a body (RFC 9110 §6.4.1): 1xx, 204 and 304. */
export function statusHasNoBody(status: number): boolean {
  return status === 204 || status === 304 || (status >= 100 && status < 200);
}

/**
 * The Content-Length a response head declares, from flat name, value pairs: -1 when it has none,
 * NaN when it is not one plain decimal number, or two that disagree (a malformed response:
 * whoever reads it may frame the body differently).
 */
export function declaredContentLength(headers: readonly string[]): number {
  let length = -1;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    // Every response is asked this: names of another length, or not starting with c, cost a compare.
    if (name.length !== 14 || (name.charCodeAt(0) | 0x20) !== 99 || name.toLowerCase() !== 'content-length') continue;
    const n = decimal(headers[i + 1]!);
    if (Number.isNaN(n) || (length !== -1 && length !== n)) return NaN;
    length = n;
  }
  return length;
}

/** A header value that is one decimal number (1 to 15 digits, spaces around allowed), else NaN. */
function decimal(value: string): number {
  let start = 0;
  let end = value.length;
  while (start < end && (value.charCodeAt(start) === 32 || value.charCodeAt(start) === 9)) start++;
  while (end > start && (value.charCodeAt(end - 1) === 32 || value.charCodeAt(end - 1) === 9)) end--;
  if (end === start || end - start > 15) return NaN;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return NaN;
    n = n * 10 + d;
  }
  return n;
}

/**
 * Hop-by-hop headers belong to one connection, not to the response (RFC 9110 §7.6.1), and
 * Transfer-Encoding too: each hop frames the body itself. An app's or a worker's are dropped;
 * the worker frames its link, the gateway or nginx the client's connection.
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer', 'transfer-encoding']);

/** HOP_BY_HOP.has(name.toLowerCase()), without lower-casing the names no hop-by-hop name is as long as. */
export function isHopByHop(name: string): boolean {
  const n = name.length;
  return (n === 10 || n === 7 || n === 2 || n === 16 || n === 17) && HOP_BY_HOP.has(name.toLowerCase());
}

/**
 * A Content-Type of an event stream (text/event-stream, any case, spaces before): such a response
 * must pass every proxy event by event (X-Accel-Buffering: no for nginx). The cheap tests first:
 * most values are text/plain, application/json...
 */
export function isEventStream(type: string): boolean {
  const c = type.charCodeAt(0) | 0x20;
  return type.length >= 17 && (c === 116 ? (type.charCodeAt(5) | 0x20) === 101 : c === 0x20 || c === 0x29) && /^\s*text\/event-stream/i.test(type);
}

/** A CR, LF or NUL: what would split a response's head wherever it stands in a name, value or reason. */
export function splitsHead(text: string): boolean {
  return SPLITS_HEAD.test(text);
}
const SPLITS_HEAD = /[\r\n\0]/;
