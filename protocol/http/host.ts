/**
 * What a Host header (or the authority of an absolute-form request target) may be: `host[:port]`,
 * where host is a reg-name of RFC 3986's unreserved and sub-delims characters, an IPv4 address, or
 * an `[IPv6]` literal. One rule for the gateway and the worker, whichever front sent the request.
 *
 * Why it matters: apps build their URL as scheme + "://" + Host + target, and a URL parser ends the
 * authority at `/`, `\`, `?`, `#` or `@`. nginx lets `\`, `?` and `#` through in Host, so with
 * `Host: a\admin?` a request for `/public` would parse as the path `/admin`, past any
 * `location /admin` rule in front. Refused here, nothing but the request target decides the path.
 */
const SHAPE = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=]+|\[[0-9A-Fa-f:.]+\])(?::\d{0,5})?$/;

/** The last host found valid: nearly every request on a server carries the same one. */
let lastValid = '';

export function isValidHost(host: string): boolean {
  if (host === lastValid) return true;
  if (!SHAPE.test(host)) return false;
  // The shape admits what the URL parser still refuses (an IPv4 part over 255, a port over
  // 65535, a bad punycode label): those would make an app's `new URL()` throw.
  if (!URL.canParse(`http://${host}/`)) return false;
  lastValid = host;
  return true;
}
