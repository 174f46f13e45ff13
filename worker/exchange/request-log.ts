import type { Exchange } from './exchange.js';
import { managedConfig } from '../master-client.js';
import type { WorkerContext } from '../worker-context.js';

/** This process's worker id under a master (uWSGI's wid), 0 alone: read once. */
const WORKER_ID = managedConfig()?.id ?? 0;

/** One line per request in uWSGI's shape (or one JSON object with --log-format json). */
export function logRequest(ctx: WorkerContext, ex: Exchange): void {
  if (!ctx.log.logsRequests) return;
  const v = ex.vars;
  ctx.log.request({
    pid: process.pid,
    workerRequests: ctx.requests,
    totalRequests: ctx.requests,
    remoteAddr: v.get('REMOTE_ADDR') ?? '',
    remoteUser: v.get('REMOTE_USER') ?? '',
    // uWSGI counts keys and values alike.
    varsCount: v.count * 2,
    varsBytes: ex.head.datasize,
    startedAt: ex.startedAt,
    method: ex.method,
    uri: v.get('REQUEST_URI') ?? v.get('PATH_INFO') ?? '',
    bodyBytes: ex.bodyBytes,
    durationMs: ex.durationMs,
    protocol: v.get('SERVER_PROTOCOL') ?? 'HTTP/1.1',
    status: ex.aborted && !ex.headSent ? 499 : ex.status,
    headersCount: ex.headersCount,
    headersBytes: ex.headersBytes,
    switches: ex.writes,
    workerId: WORKER_ID,
    vars: v,
    aborted: ex.aborted,
  });
}
