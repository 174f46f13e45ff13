import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { PorticoError, type ErrorCode } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { encodePacketHead } from '../protocol/packet-encoder.js';
import { parseResponseHead, type ResponseHead } from '../protocol/response-head-parser.js';
import { connectOptions } from '../protocol/socket-address.js';
import { varsForHttpRequest } from './http-request-vars.js';
import type { TrustedProxies } from './trusted-proxies.js';
import type { Upstream, UpstreamPool } from './upstream-pool.js';

export interface ForwardContext {
  pool: UpstreamPool;
  trusted: TrustedProxies;
  log: Logger;
  upstreamTimeoutMs: number;
  bodyLimit: number;
}

/** Hop-by-hop headers belong to the worker's connection, not to the client's (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer']);

/**
 * Forwards one HTTP request over the uwsgi link: one connection per request, the packet, the body
 * streamed with backpressure, and the close-delimited HTTP response parsed strictly and streamed
 * back. A refused connection moves to another upstream; nothing has been sent by then.
 */
export async function forwardUwsgi(req: IncomingMessage, res: ServerResponse, ctx: ForwardContext): Promise<void> {
  let body: Buffer | null = null;
  let contentLength: number | undefined;
  const cl = req.headers['content-length'];
  if (cl !== undefined) contentLength = Number(cl);
  else if (req.headers['transfer-encoding'] !== undefined) {
    // The uwsgi packet must state CONTENT_LENGTH up front, so a chunked body is read first (as
    // nginx does for uwsgi_pass), within --body-limit.
    body = await readBounded(req, ctx.bodyLimit);
    if (body === null) return sendError(res, ctx, 'PORTICO_ERR_BODY_TOO_LARGE', `chunked body over ${ctx.bodyLimit} bytes`, req);
    contentLength = body.length;
  }
  const head = encodePacketHead({ vars: varsForHttpRequest(req, ctx.trusted, contentLength) });
  const tried = new Set<Upstream>();
  for (;;) {
    const up = ctx.pool.pick(tried);
    if (!up) return sendError(res, ctx, 'PORTICO_ERR_UPSTREAM_CONNECT', `no worker reachable (tried ${[...tried].map((u) => u.label).join(', ')})`, req);
    const socket = await connectUpstream(up);
    if (!socket) {
      tried.add(up);
      continue;
    }
    if (res.destroyed) {
      // The client went away while the upstream was connecting (a reset right after the request):
      // its 'close' has fired already, so exchange() would never hear of it and the app would wait
      // on the request until the upstream timeout. Nothing was sent yet: drop it.
      socket.destroy();
      return;
    }
    return exchange(req, res, ctx, up, socket, head, body);
  }
}

function connectUpstream(up: Upstream): Promise<Socket | null> {
  return new Promise((resolve) => {
    const socket = connect(connectOptions(up.address));
    const onError = (): void => resolve(null);
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

function exchange(req: IncomingMessage, res: ServerResponse, ctx: ForwardContext, up: Upstream, socket: Socket, head: Buffer, body: Buffer | null): Promise<void> {
  up.outstanding++;
  return new Promise<void>((resolve) => {
    let parsed: ResponseHead | null = null;
    let pending: Buffer | null = null;
    let expected = -1;
    let received = 0;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      up.outstanding--;
      clearTimeout(timer);
      socket.destroy();
      if (!req.complete) {
        // The app answered without reading the whole body. Read and drop the rest, as nginx
        // does: left paused, the client's connection would never see its EOF and hang a stop.
        req.unpipe(socket);
        req.resume();
      }
      resolve();
    };
    const fail = (code: ErrorCode, detail: string): void => {
      if (done) return;
      if (res.headersSent) {
        ctx.log.error(code, `${req.method} ${req.url} via ${up.label}: ${detail}; client connection aborted`);
        res.destroy();
      } else {
        sendError(res, ctx, code, `${detail} (${up.label})`, req);
      }
      finish();
    };
    const timer = setTimeout(() => fail('PORTICO_ERR_UPSTREAM_TIMEOUT', `no response head within ${ctx.upstreamTimeoutMs / 1000} s`), ctx.upstreamTimeoutMs);

    if (body) socket.write(Buffer.concat([head, body]));
    else {
      socket.write(head);
      // end: false, because the worker takes EOF from its peer as the client going away.
      req.pipe(socket, { end: false });
    }

    const writeBody = (chunk: Buffer): void => {
      if (expected >= 0 && received + chunk.length > expected) {
        fail('PORTICO_ERR_BAD_RESPONSE', `body longer than its Content-Length ${expected}`);
        return;
      }
      received += chunk.length;
      if (!res.write(chunk)) socket.pause();
      if (expected >= 0 && received === expected) {
        res.end();
        finish();
      }
    };
    res.on('drain', () => socket.resume());
    res.on('close', () => {
      // The client went away: closing the worker's connection aborts the app's request.
      if (!res.writableFinished) finish();
    });

    socket.on('data', (chunk: Buffer) => {
      if (parsed) return writeBody(chunk);
      pending = pending ? Buffer.concat([pending, chunk]) : chunk;
      try {
        parsed = parseResponseHead(pending);
      } catch (err) {
        return fail('PORTICO_ERR_BAD_RESPONSE', (err as PorticoError).message);
      }
      if (!parsed) return;
      clearTimeout(timer);
      const outHeaders: string[] = [];
      for (const [name, value] of parsed.headers) {
        const lower = name.toLowerCase();
        if (lower === 'transfer-encoding') {
          return fail('PORTICO_ERR_BAD_RESPONSE', 'Transfer-Encoding in a uwsgi response (the body is delimited by the close)');
        }
        if (lower === 'content-length') {
          if (!/^\d+$/.test(value) || (expected >= 0 && expected !== Number(value))) return fail('PORTICO_ERR_BAD_RESPONSE', `bad Content-Length ${JSON.stringify(value)}`);
          expected = Number(value);
        }
        if (!HOP_BY_HOP.has(lower)) outHeaders.push(name, value);
      }
      const noBody = req.method === 'HEAD' || parsed.status === 204 || parsed.status === 304;
      if (noBody) expected = 0;
      res.writeHead(parsed.status, parsed.statusText, outHeaders);
      const rest = pending.subarray(parsed.size);
      pending = null;
      if (noBody) {
        res.end();
        return finish();
      }
      if (rest.length > 0) writeBody(rest);
      else if (expected === 0) {
        res.end();
        finish();
      }
    });
    socket.on('end', () => {
      if (done) return;
      if (!parsed) return fail('PORTICO_ERR_UPSTREAM_ABORTED', 'closed before a complete response head');
      if (expected >= 0 && received < expected) return fail('PORTICO_ERR_UPSTREAM_ABORTED', `closed after ${received} of ${expected} body bytes`);
      res.end();
      finish();
    });
    socket.on('error', (err) => fail('PORTICO_ERR_UPSTREAM_ABORTED', err.message));
    socket.on('close', () => {
      if (!done) fail('PORTICO_ERR_UPSTREAM_ABORTED', 'connection closed');
    });
  });
}

function readBounded(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        resolve(null);
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

export function sendError(res: ServerResponse, ctx: ForwardContext, code: ErrorCode, detail: string, req: IncomingMessage): void {
  const err = new PorticoError(code, detail);
  ctx.log.error(code, `${req.method} ${req.url}: ${err.message}`);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = `${err.status} ${code}\n`;
  res.writeHead(err.status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
