import { STATUS_CODES, type OutgoingHttpHeaders } from 'node:http';
import { ErrorCodes, PorticoError, isPorticoError, type ErrorCode } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { declaredContentLength, isFinalStatus, isHopByHop } from '../../protocol/http/http-response.js';
import { answeredByWorker } from '../front/access-log.js';
import type { NativeLinkPool } from '../link/link-pool.js';
import type { TrustedProxies } from '../front/trusted-proxies.js';
import type { Upstream, UpstreamPool } from './upstream-pool.js';
import type { ForwardedRequest, ForwardedResponse, InProcessApp } from './forward-types.js';
import type { StickySessions } from './sticky-sessions.js';
import type { GatewayTracing } from '../gateway-tracing.js';

/** What every forwarder needs, built once by the gateway server. */
export interface ForwardContext {
  pool: UpstreamPool;
  /** The connection pool of each native-link upstream. */
  native: Map<Upstream, NativeLinkPool>;
  trusted: TrustedProxies;
  /** --otel: the spans of gateway/gateway-tracing.ts (loaded only then). */
  tracing: GatewayTracing | null;
  log: Logger;
  upstreamTimeoutMs: number;
  bodyLimit: number;
  /** A request found no upstream at all and waits (serve: the master starts workers). */
  onNoUpstream?: () => void;
  /** socket.io sessions pinned to their worker (gateway/forwarding/sticky-sessions.ts). */
  sticky?: StickySessions;
  /** `portico worker --http-socket`: the app in this process, which takes every request and upgrade. */
  inProcess?: InProcessApp | null;
}

/** Answers the client with a coded error, or aborts its connection once a head was sent. */
export function sendError(res: ForwardedResponse, ctx: Pick<ForwardContext, 'log'>, code: ErrorCode, detail: string, req: ForwardedRequest, headers: OutgoingHttpHeaders = {}): void {
  const err = new PorticoError(code, detail);
  ctx.log.error(code, `${req.method} ${(req.url ?? '').slice(0, 256)}: ${err.message}`);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = `${err.status} ${code}\n`;
  // The reason given outright: a refused head may have left its own on the response.
  res.writeHead(err.status, STATUS_CODES[err.status] ?? 'Error', { ...headers, 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * A forward that threw instead of answering: a coded error (a vars block past 64 KiB, say) gets
 * its status, anything else is logged with its stack and the client's connection is cut.
 */
export function forwardFailed(res: ForwardedResponse, ctx: ForwardContext, req: ForwardedRequest, err: unknown): void {
  if (isPorticoError(err)) return sendError(res, ctx, err.code, errorDetail(err), req);
  ctx.log.error('PORTICO_ERR_UPSTREAM_ABORTED', `${req.method} ${req.url}: ${(err as Error).stack ?? String(err)}`);
  res.destroy();
}

/**
 * An exchange with `up` failed: a coded error for the client, or its connection aborted once the
 * head is out (never a truncated body passed off as complete). An upstream the master killed for
 * a stuck request (--harakiri) fails its requests as a timeout (504), not as a broken worker.
 */
export function failUpstream(res: ForwardedResponse, ctx: ForwardContext, req: ForwardedRequest, up: Upstream, code: ErrorCode, detail: string): void {
  if (up.failCode && code === 'PORTICO_ERR_UPSTREAM_ABORTED') code = up.failCode;
  if (res.headersSent) {
    ctx.log.error(code, `${req.method} ${req.url} via ${up.label}: ${detail}; client connection aborted`);
    res.destroy();
    return;
  }
  sendError(res, ctx, code, `${detail} (${up.label})`, req);
}

/**
 * The app answered without reading the whole body. Read and drop the rest, as nginx does: left
 * paused, the client's connection would never see its EOF and hang a stop.
 */
export function discardUnread(req: ForwardedRequest): void {
  if (req.complete) return;
  req.unpipe();
  req.resume();
}

/** Reads a whole request body up to `limit` bytes; null (and the rest discarded) past it. */
export function readBounded(req: ForwardedRequest, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > limit) {
        req.off('data', onData);
        req.resume();
        resolve(null);
      } else chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
    // A native attempt that was given up before it read the body left `req` explicitly paused.
    req.resume();
  });
}

/** A PorticoError's message without the code's own message in front, which sendError puts back. */
export function errorDetail(err: PorticoError): string {
  const base = `${ErrorCodes[err.code].message}: `;
  return err.message.startsWith(base) ? err.message.slice(base.length) : err.message;
}

/** A reason phrase as RFC 9112 has it (HTAB, SP, VCHAR, obs-text): what Node's writeHead accepts. */
export const REASON = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Writes a worker's decoded response head to the client, minus hop-by-hop headers. Node refuses
 * a status or header it cannot send (a CR, LF or NUL in it; a portico worker never writes one, a
 * broken or hostile peer might): that comes back as the reason, for a 502, instead of a throw out
 * of the link's 'data' handler.
 */
export function writeWorkerHead(res: ForwardedResponse, head: ClientHead): string | null {
  if (!isFinalStatus(head.status)) return `the worker's status ${head.status} is not a final status (200-599)`;
  if (Number.isNaN(head.length)) return "the worker's Content-Length is not one decimal number";
  // Checked here, not left to Node: its writeHead keeps a refused reason on the response.
  if (!REASON.test(head.reason)) return `the worker's reason phrase ${JSON.stringify(head.reason.slice(0, 64))} has a control character`;
  try {
    if (head.reason) res.writeHead(head.status, head.reason, head.headers);
    else res.writeHead(head.status, head.headers);
  } catch (err) {
    return `the worker's response head was refused: ${(err as Error).message}`;
  }
  answeredByWorker(res);
  return null;
}

/**
 * A worker's body ran past its head's Content-Length. What fits goes out and ends the client's
 * response (it has what the head promised); the connection then closes, so no byte after it can
 * pass for a second response on a kept-alive connection (a forged response, a planted cookie).
 */
export function endAtLength(res: ForwardedResponse, ctx: ForwardContext, req: ForwardedRequest, up: Upstream, fits: Buffer, length: number): void {
  ctx.log.error('PORTICO_ERR_BAD_RESPONSE', `${req.method} ${req.url} via ${up.label}: body longer than its Content-Length ${length}; cut there and the client connection closed`);
  const socket = req.socket;
  res.once('finish', () => socket.destroySoon());
  res.once('close', () => socket.destroySoon());
  if (fits.length > 0) res.write(fits);
  res.end();
}

/** A worker's response head as the client gets it: hop-by-hop headers gone. */
export interface ClientHead {
  status: number;
  reason: string;
  /** Flat name, value pairs; node:http only reads them, so one array may serve many responses. */
  headers: string[];
  /** The declared Content-Length: -1 for none, NaN for a malformed one (declaredContentLength). */
  length: number;
}

export function clientHead(head: { status: number; reason: string; headers: string[] }): ClientHead {
  const out = clientHeaders(head.headers);
  return { status: head.status, reason: head.reason, headers: out, length: declaredContentLength(out) };
}

/**
 * A worker's headers (flat pairs) minus the hop-by-hop ones: the fixed set, and any that its own
 * `Connection:` names (RFC 9110 §7.6.1), which describe the worker's connection, not the answer.
 */
export function clientHeaders(h: readonly string[]): string[] {
  const out: string[] = [];
  let named: Set<string> | null = null;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    if (!isHopByHop(name)) out.push(name, h[i + 1]!);
    else if (name.length === 10 && name.toLowerCase() === 'connection') {
      named ??= new Set();
      for (const token of h[i + 1]!.split(',')) named.add(token.trim().toLowerCase());
    }
  }
  if (named === null) return out;
  const kept: string[] = [];
  for (let i = 0; i < out.length; i += 2) if (!named.has(out[i]!.toLowerCase())) kept.push(out[i]!, out[i + 1]!);
  return kept;
}
