import { connect } from 'node:net';
import { connectOptions, formatSocketAddress, parseSocketAddress } from '../protocol/socket-address.js';
import type { MasterStatsJson, SocketStatsJson, WorkerStatsJson } from './master-stats.js';

/** A document past this is not a stats server talking (a wrong port streaming something else). */
const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;

/** Why the stats document could not be read, from the stats server at `address`. */
export class StatsUnavailableError extends Error {
  constructor(address: string, reason: string) {
    super(`cannot read the stats server at ${address}: ${reason}`);
    this.name = 'StatsUnavailableError';
  }
}

/** What the usual connect errors mean here, so the message says what to check. */
const HINTS: Record<string, string> = {
  ENOENT: 'no such socket (is the master running with --stats?)',
  ECONNREFUSED: 'connection refused (is the master running with --stats?)',
  EACCES: 'permission denied on the socket',
  ENOTSOCK: 'not a socket',
};

/**
 * Reads one stats document: the server writes it on connect and closes (master/stats-server.ts,
 * the same protocol as uWSGI's stats server). `spec` is a --stats value: PATH, unix:PATH or HOST:PORT.
 */
export async function fetchStats(spec: string, timeoutMs = 3000): Promise<MasterStatsJson> {
  return normalize((await fetchStatsRaw(spec, timeoutMs)).json);
}

/** The document as the server wrote it (for `top --json`), checked to be a stats document. */
export function fetchStatsRaw(spec: string, timeoutMs = 3000): Promise<{ text: string; json: Record<string, unknown> }> {
  const addr = parseSocketAddress(spec);
  const name = formatSocketAddress(addr);
  return new Promise((resolve, reject) => {
    const sock = connect(connectOptions(addr));
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const fail = (reason: string): void => {
      if (settled) return;
      settled = true;
      sock.destroy();
      reject(new StatsUnavailableError(name, reason));
    };
    // An idle timeout: a uwsgi socket given by mistake waits for a request forever.
    sock.setTimeout(timeoutMs, () => fail(`no answer within ${timeoutMs} ms (is this the --stats address?)`));
    sock.on('error', (err: NodeJS.ErrnoException) => fail(err.code ? `${err.code}: ${HINTS[err.code] ?? err.message}` : err.message));
    sock.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_DOCUMENT_BYTES) return fail(`more than ${MAX_DOCUMENT_BYTES} bytes: not a stats document`);
      chunks.push(chunk);
    });
    sock.on('end', () => {
      if (settled) return;
      const text = Buffer.concat(chunks, size).toString('utf8');
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch {
        return fail(size === 0 ? 'closed without a document' : 'the answer is not JSON');
      }
      if (!isObject(doc) || !Array.isArray(doc.workers)) return fail('the JSON has no "workers" list: not a stats document');
      settled = true;
      sock.destroy();
      resolve({ text, json: doc });
    });
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/** The fields of `o` named in `keys`, each a number: 0 when missing or not a number. */
function numbers<K extends string>(o: Record<string, unknown>, keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, num(o[k])])) as Record<K, number>;
}

/** Each object of a list, read by `read` (an absent list or a non-object item is left out). */
function objects<T>(list: unknown, read: (o: Record<string, unknown>) => T): T[] {
  return Array.isArray(list) ? list.filter(isObject).map(read) : [];
}

const WORKER_NUMBERS = [
  'id',
  'pid',
  'requests',
  'exceptions',
  'harakiri_count',
  'respawn_count',
  'rss',
  'avg_rt',
  'running_time',
  'last_spawn',
  'delta_requests',
  'signals',
  'signal_queue',
  'vsz',
  'tx',
  'upgraded',
] as const;
const HEALTH_NUMBERS = [
  'loop_delay_p50_ms',
  'loop_delay_p99_ms',
  'loop_delay_max_ms',
  'loop_utilization',
  'gc_count',
  'gc_total_ms',
  'gc_max_pause_ms',
  'heap_used',
  'heap_limit',
  'handles',
  'blocked_ms',
] as const;

/**
 * Fills what a uWSGI stats server leaves out (in_flight, current_request, responsive...), so
 * `portico top` can watch a real uWSGI master too, and a field a newer master renamed shows as 0
 * instead of breaking the screen.
 */
function normalize(doc: Record<string, unknown>): MasterStatsJson {
  const workers = objects(doc.workers, (w): WorkerStatsJson => {
    const status = typeof w.status === 'string' ? w.status : 'idle';
    const cur = isObject(w.current_request) ? w.current_request : null;
    return {
      ...numbers(w, WORKER_NUMBERS),
      status: status as WorkerStatsJson['status'],
      in_flight: typeof w.in_flight === 'number' ? w.in_flight : status === 'busy' ? 1 : 0,
      current_request: cur ? { method: String(cur.method ?? ''), uri: String(cur.uri ?? ''), running_ms: num(cur.running_ms) } : null,
      responsive: w.responsive !== false,
      accepting: w.accepting === 0 ? 0 : 1,
      apps: [],
      cores: [],
      ...(isObject(w.health) ? { health: numbers(w.health, HEALTH_NUMBERS) } : {}),
    };
  });
  const sockets = objects(
    doc.sockets,
    (s): SocketStatsJson => ({
      ...numbers(s, ['queue', 'max_queue'] as const),
      name: String(s.name ?? ''),
      proto: String(s.proto ?? ''),
      shared: s.shared === 1 ? 1 : 0,
      can_offload: s.can_offload === 1 ? 1 : 0,
    }),
  );
  return {
    ...numbers(doc, ['listen_queue', 'listen_queue_errors', 'signal_queue', 'load', 'pid', 'uid', 'gid'] as const),
    version: String(doc.version ?? '?'),
    locks: [],
    cwd: String(doc.cwd ?? ''),
    sockets,
    workers,
    ...(Array.isArray(doc.cron)
      ? {
          cron: objects(doc.cron, (c) => ({
            ...numbers(c, ['id', 'runs', 'skipped'] as const),
            kind: String(c.kind ?? ''),
            when: String(c.when ?? ''),
            next: String(c.next ?? ''),
            running: c.running === true,
          })),
        }
      : {}),
    ...(Array.isArray(doc.gateways)
      ? {
          gateways: objects(doc.gateways, (g) => ({
            ...numbers(g, ['id', 'pid', 'queue', 'respawns'] as const),
            status: g.status === 'starting' || g.status === 'stopping' ? g.status : ('serving' as const),
          })),
        }
      : {}),
  };
}
