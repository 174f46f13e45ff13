import { randomUUID } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { buildRequestVars } from '../../protocol/uwsgi/request-vars.js';
import type { UwsgiVars } from '../../protocol/uwsgi/uwsgi-vars.js';
import type { TrustedProxies } from '../front/trusted-proxies.js';
import type { ForwardedRequest } from './forward-types.js';
import type { GatewayTracing } from '../gateway-tracing.js';

/** What the vars depend on besides the request: ForwardContext has both. */
export interface VarsContext {
  readonly trusted: TrustedProxies;
  /** --otel: the link span's traceparent replaces the client's. null: trace headers pass as sent. */
  readonly tracing: GatewayTracing | null;
}

/**
 * The uwsgi vars for an HTTP request the gateway received, as nginx's uwsgi_params would make
 * them. Behind a trusted proxy (nginx on loopback) the client is the last X-Forwarded-For hop and
 * the scheme is X-Forwarded-Proto; from anyone else those headers are passed on but not believed.
 * X-Request-Id is the same: a trusted proxy's is kept, anyone else's replaced by one made here
 * (requestIdOf), and a request without one gets one, so the app and the access line name it.
 */
export function varsForHttpRequest(req: ForwardedRequest, ctx: VarsContext, contentLength: number | undefined): UwsgiVars {
  const socket = req.socket;
  let remoteAddr = socket.remoteAddress ?? '';
  let remotePort: number | string = socket.remotePort ?? '';
  let scheme: 'http' | 'https' = (socket as TLSSocket).encrypted ? 'https' : 'http';
  const trusted = ctx.trusted;
  const tracing = ctx.tracing;
  let raw = req.rawHeaders;
  let host = '';
  let forwardedFor: string | undefined;
  let forwardedProto: string | undefined;
  let sentId: string | undefined;
  let sentIds = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const n = name.length;
    const lower = n === 4 || n === 12 || n === 15 || n === 17 ? name.toLowerCase() : '';
    if (lower === 'host') host = value;
    else if (lower === 'x-request-id') {
      sentId ??= value;
      sentIds++;
    } else if (lower === 'x-forwarded-for') forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
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
  const id = requestIdOf(req, sentId, trusted);
  let extra: string[] | undefined;
  if (id !== sentId || sentIds > 1) {
    // Someone else's X-Request-Id (not a trusted proxy's), or a second one, is not passed on next to the id.
    if (sentId !== undefined) raw = withoutHeaders(raw, REQUEST_ID_HEADER);
    extra = ['X-Request-Id', id];
  }
  if (tracing !== null) {
    extra ??= [];
    if (tracing.link(req, extra)) raw = withoutHeaders(raw, TRACE_HEADERS);
  }
  const colon = host.lastIndexOf(':');
  const serverName = colon > 0 && !host.endsWith(']') ? host.slice(0, colon) : host;
  return buildRequestVars({
    method: req.method ?? 'GET',
    uri: req.url ?? '/',
    rawHeaders: raw,
    extraHeaders: extra,
    protocol: `HTTP/${req.httpVersion}`,
    scheme,
    remoteAddr,
    remotePort,
    serverName,
    serverPort: socket.localPort ?? '',
    contentLength,
  });
}

const REQUEST_ID_HEADER: ReadonlySet<string> = new Set(['x-request-id']);
const TRACE_HEADERS: ReadonlySet<string> = new Set(['traceparent', 'tracestate']);

/**
 * The request's id, made once and kept on the request (a retry, the access line use the same):
 * the X-Request-Id `sent` (the first one) when a trusted proxy sent it, else a new UUID.
 */
export function requestIdOf(req: Pick<ForwardedRequest, 'requestId' | 'socket'>, sent: string | undefined, trusted: TrustedProxies): string {
  let id = req.requestId;
  if (id === undefined) {
    id = sent !== undefined && sent !== '' && trusted.trusts(req.socket.remoteAddress) ? sent : randomUUID();
    req.requestId = id;
  }
  return id;
}

function withoutHeaders(raw: readonly string[], names: ReadonlySet<string>): string[] {
  const kept: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (!names.has(raw[i]!.toLowerCase())) kept.push(raw[i]!, raw[i + 1]!);
  return kept;
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
