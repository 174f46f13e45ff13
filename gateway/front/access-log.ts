import type { Socket } from 'node:net';
import type { Logger } from '../../common/logger.js';
import type { ForwardedRequest } from '../forwarding/forward-types.js';
import { requestIdOf } from '../forwarding/http-request-vars.js';
import type { TrustedProxies } from './trusted-proxies.js';

/**
 * The gateway's access lines, in nginx's combined format (the gateway is the HTTP front; its
 * users read nginx's access log): one per response the gateway completes. Under `portico serve`
 * only what the gateway answers itself (static files, its own errors: 413, 431, 502, 503, 504...),
 * since each worker logs what it answers; under `portico gateway` every request, the upstream's
 * log (real uWSGI's, say) being somewhere else. Each line ends with the request's id in quotes
 * (X-Request-Id: the one the app got, or for a request no worker saw, a trusted proxy's or a new one),
 * as nginx's combined format followed by "$request_id".
 */
export type AccessMode = 'all' | 'own';

/** Responses whose head came from a worker (writeWorkerHead): that worker logs them. */
const fromWorker = new WeakSet<object>();

export function answeredByWorker(res: object & { raw?: object }): void {
  // A response written through fastify's reply (gateway/forwarding/reply-response.ts) is noted by its raw one.
  fromWorker.add(res.raw ?? res);
}

type LoggedRequest = Pick<ForwardedRequest, 'method' | 'url' | 'httpVersion' | 'rawHeaders' | 'socket' | 'requestId'>;

export class AccessLog {
  private readonly log: Logger;
  private readonly mode: AccessMode;
  private readonly trusted: TrustedProxies;
  private second = 0;
  private stamp = '';

  constructor(log: Logger, mode: AccessMode, trusted: TrustedProxies) {
    this.log = log;
    this.mode = mode;
    this.trusted = trusted;
  }

  /** A response is complete: its line, unless a worker answered it and logs it itself. */
  note(req: LoggedRequest, res: { statusCode: number; getHeader?(name: string): unknown }): void {
    if (this.mode === 'own' && fromWorker.has(res)) return;
    let referer = '-';
    let agent = '-';
    let sentId: string | undefined;
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const n = raw[i]!.length;
      if (n !== 7 && n !== 10 && n !== 12) continue;
      const name = raw[i]!.toLowerCase();
      if (name === 'referer') referer = raw[i + 1]!;
      else if (name === 'user-agent') agent = raw[i + 1]!;
      else if (name === 'x-request-id') sentId ??= raw[i + 1]!;
    }
    const length = res.getHeader?.('content-length');
    const bytes = typeof length === 'string' || typeof length === 'number' ? String(length) : '-';
    const id = requestIdOf(req, sentId, this.trusted);
    this.line(req.socket, `"${req.method ?? '-'} ${req.url ?? '-'} HTTP/${req.httpVersion}"`, res.statusCode, bytes, referer, agent, id);
  }

  /** An answer written straight to the socket (a request the parser refused): no request to name. */
  noteRaw(socket: Socket, status: number): void {
    this.line(socket, '"-"', status, '-', '-', '-', '-');
  }

  private line(socket: Socket, request: string, status: number, bytes: string, referer: string, agent: string, id: string): void {
    this.log.access(`${socket.remoteAddress ?? '-'} - - [${this.time()}] ${request} ${status} ${bytes} "${referer}" "${agent}" "${id}"`);
  }

  /** nginx's $time_local, 06/Dec/2026:05:03:27 +0000, made once a second. */
  private time(): string {
    const now = Date.now();
    const second = Math.floor(now / 1000);
    if (second !== this.second) {
      this.second = second;
      const d = new Date(second * 1000);
      const [, day, mon, year, hms] = d.toUTCString().split(' ');
      this.stamp = `${day}/${mon}/${year}:${hms} +0000`;
    }
    return this.stamp;
  }
}
