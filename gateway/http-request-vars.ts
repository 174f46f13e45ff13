import type { TLSSocket } from 'node:tls';
import { buildRequestVars } from '../protocol/request-vars.js';
import type { UwsgiVars } from '../protocol/uwsgi-vars.js';
import type { TrustedProxies } from './trusted-proxies.js';
import type { ForwardedRequest } from './forward-types.js';

/**
 * The uwsgi vars for an HTTP request the gateway received, as nginx's uwsgi_params would make
 * them. Behind a trusted proxy (nginx on loopback) the client is the last X-Forwarded-For hop and
 * the scheme is X-Forwarded-Proto; from anyone else those headers are passed on but not believed.
 */
export function varsForHttpRequest(req: ForwardedRequest, trusted: TrustedProxies, contentLength: number | undefined): UwsgiVars {
  const socket = req.socket;
  let remoteAddr = socket.remoteAddress ?? '';
  let remotePort: number | string = socket.remotePort ?? '';
  let scheme: 'http' | 'https' = (socket as TLSSocket).encrypted ? 'https' : 'http';
  const raw = req.rawHeaders;
  let host = '';
  let forwardedFor: string | undefined;
  let forwardedProto: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const lower = name.length === 4 || name.length === 15 || name.length === 17 ? name.toLowerCase() : '';
    if (lower === 'host') host = value;
    else if (lower === 'x-forwarded-for') forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
    else if (lower === 'x-forwarded-proto') forwardedProto = value;
  }
  if ((forwardedFor !== undefined || forwardedProto !== undefined) && trusted.trusts(socket.remoteAddress)) {
    if (forwardedFor !== undefined) {
      const hops = forwardedFor.split(',');
      remoteAddr = hops[hops.length - 1]!.trim();
      remotePort = '';
    }
    if (forwardedProto === 'https' || forwardedProto === 'http') scheme = forwardedProto;
  }
  const colon = host.lastIndexOf(':');
  const serverName = colon > 0 && !host.endsWith(']') ? host.slice(0, colon) : host;
  return buildRequestVars({
    method: req.method ?? 'GET',
    uri: req.url ?? '/',
    rawHeaders: raw,
    protocol: `HTTP/${req.httpVersion}`,
    scheme,
    remoteAddr,
    remotePort,
    serverName,
    serverPort: socket.localPort ?? '',
    contentLength,
  });
}

/**
 * HTTP/1.1: a request has a body only with Transfer-Encoding or a Content-Length other than 0.
 * Read from rawHeaders: req.headers is built on first use, a cost a forwarded request need not pay.
 */
export function requestHasBody(req: ForwardedRequest): boolean {
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]!.length;
    if (n !== 14 && n !== 17) continue;
    const lower = raw[i]!.toLowerCase();
    if (lower === 'transfer-encoding' || (lower === 'content-length' && raw[i + 1] !== '0')) return true;
  }
  return false;
}
