import { readFileSync } from 'node:fs';
import { defaults } from '../config/defaults.js';
import { PORTICO_VERSION } from '../common/version.js';
import type { RuntimeHealth } from '../worker/watchdog/scoreboard.js';
import type { CronStatus } from './cron-scheduler.js';
import type { Master } from './master.js';
import type { WorkerProcess } from './worker-process.js';

/** One worker in the stats JSON (field names as in uWSGI's stats server where it has one). */
export interface WorkerStatsJson {
  id: number;
  pid: number;
  status: 'idle' | 'busy' | 'cheap' | 'reloading' | 'starting' | 'stopping';
  requests: number;
  in_flight: number;
  exceptions: number;
  harakiri_count: number;
  respawn_count: number;
  rss: number;
  /** Mean request time, microseconds. */
  avg_rt: number;
  /** Microseconds spent in requests (uWSGI's meaning). */
  running_time: number;
  last_spawn: number;
  /** uWSGI 2.0's other per-worker fields, with its meanings (docs/top.md): */
  accepting: 0 | 1;
  /** Requests since the previous stats query. */
  delta_requests: number;
  signals: number;
  signal_queue: number;
  /** Virtual memory size, bytes. */
  vsz: number;
  /** Response bytes written. */
  tx: number;
  /** portico's: upgraded connections (WebSockets) open now, not counted in in_flight. */
  upgraded: number;
  apps: Array<{ id: number; modifier1: number; mountpoint: string; startup_time: number; requests: number; exceptions: number; chdir: string }>;
  /** One core: the worker's event loop (uWSGI's cores are its threads or async slots). */
  cores: Array<{
    id: number;
    requests: number;
    static_requests: number;
    routed_requests: number;
    offloaded_requests: number;
    write_errors: number;
    read_errors: number;
    in_request: 0 | 1;
    vars: string[];
    req_info: Record<string, never>;
  }>;
  current_request: { method: string; uri: string; running_ms: number } | null;
  /** False when the watchdog did not answer in time (the process is wedged past its thread too). */
  responsive: boolean;
  /** portico's: the app thread's runtime (docs/diagnostics.md); absent from uWSGI and cheap slots. */
  health?: WorkerHealthJson;
}

/** A worker's runtime health: the last second's event loop and GC, the heap and handles now. */
export interface WorkerHealthJson {
  loop_delay_p50_ms: number;
  loop_delay_p99_ms: number;
  loop_delay_max_ms: number;
  /** Share of the last second the event loop spent running callbacks, 0 to 1. */
  loop_utilization: number;
  /** Since the worker started. */
  gc_count: number;
  gc_total_ms: number;
  /** The longest GC pause in the last second. */
  gc_max_pause_ms: number;
  heap_used: number;
  heap_limit: number;
  /** Handles and requests keeping the event loop alive (sockets, timers, ...). */
  handles: number;
  /** How long the event loop has not turned, past the blocked threshold (0: it turns). */
  blocked_ms: number;
}

/** The scoreboard's health in the stats document's units (ms to 0.01, utilisation to 0.001). */
function healthJson(h: RuntimeHealth): WorkerHealthJson {
  const ms = (n: number): number => Math.round(n * 100) / 100;
  return {
    loop_delay_p50_ms: ms(h.loopDelayP50),
    loop_delay_p99_ms: ms(h.loopDelayP99),
    loop_delay_max_ms: ms(h.loopDelayMax),
    loop_utilization: Math.round(h.loopUtilization * 1000) / 1000,
    gc_count: h.gcCount,
    gc_total_ms: ms(h.gcTotalMs),
    gc_max_pause_ms: ms(h.gcMaxMs),
    heap_used: h.heapUsed,
    heap_limit: h.heapLimit,
    handles: h.handles,
    blocked_ms: Math.round(h.blockedMs),
  };
}

/** One --cron / --cron-app task as the master runs it; `next` is an ISO time. */
type CronStatsJson = Omit<CronStatus, 'kind' | 'next'> & { kind: string; next: string };

/** A listening socket, with uWSGI's fields (queue: connections waiting to be accepted, TCP only). */
export interface SocketStatsJson {
  name: string;
  proto: string;
  queue: number;
  max_queue: number;
  shared: 0 | 1;
  can_offload: 0 | 1;
}

/** A gateway process of `portico serve --gateway-processes N`. */
export interface GatewayStatsJson {
  id: number;
  pid: number;
  status: 'starting' | 'serving' | 'stopping';
  /** Requests waiting in its --listen queue for a worker, as it last reported. */
  queue: number;
  /** Times this gateway id was started again after its process died. */
  respawns: number;
}

export interface MasterStatsJson {
  version: string;
  /** uWSGI's: connections waiting in the listen queue (the sockets' queues summed), and its errors. */
  listen_queue: number;
  listen_queue_errors: number;
  signal_queue: number;
  /** Requests in progress across the workers. */
  load: number;
  pid: number;
  uid: number;
  gid: number;
  cwd: string;
  /** uWSGI's named locks: portico has none (one event loop per worker). */
  locks: Array<Record<string, number>>;
  sockets: SocketStatsJson[];
  workers: WorkerStatsJson[];
  /** Present when the master runs cron tasks. */
  cron?: CronStatsJson[];
  /** Present under --gateway-processes N (2 or more). */
  gateways?: GatewayStatsJson[];
}

/**
 * The stats document: the master's own view (pids, respawns, harakiri) plus what each worker's
 * watchdog thread reads from its scoreboard, so a worker stuck in a request still shows it.
 */
export async function collectStats(
  master: Master,
  sockets: Array<{ name: string; proto: string; backlog: number }>,
  cron: CronStatus[] | null = null,
  hideQuery = false,
  gateways: GatewayStatsJson[] | null = null,
): Promise<MasterStatsJson> {
  const procs = master.all().sort((a, b) => a.id - b.id || a.spawnedAt - b.spawnedAt);
  const workers = await Promise.all(procs.map((w) => workerStats(master, w.id, w, hideQuery)));
  // Slots up to --processes with no process: uWSGI's "cheap" workers (--cheap, --cheaper).
  for (let id = 1; id <= master.processes; id++) {
    if (!master.workers.has(id)) workers.push(await workerStats(master, id, null, hideQuery));
  }
  workers.sort((a, b) => a.id - b.id);
  const socketStats = sockets.map(socketStatsOf);
  return {
    version: PORTICO_VERSION,
    listen_queue: socketStats.reduce((n, sk) => n + sk.queue, 0),
    listen_queue_errors: 0,
    signal_queue: 0,
    load: workers.reduce((n, w) => n + w.in_flight, 0),
    pid: process.pid,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    cwd: process.cwd(),
    locks: [],
    sockets: socketStats,
    workers,
    ...(cron ? { cron: cron.map((c) => ({ ...c, next: c.next.toISOString() })) } : {}),
    ...(gateways ? { gateways } : {}),
  };
}

/** Worker `id`'s process `w`, or its slot when no process runs in it (a cheap one). */
async function workerStats(master: Master, id: number, w: WorkerProcess | null, hideQuery: boolean): Promise<WorkerStatsJson> {
  const s = w?.alive ? await w.control.ask('stats', defaults.statsTimeoutMs) : null;
  const slot = master.slots.get(id);
  const status: WorkerStatsJson['status'] = !w ? 'cheap' : !w.isReady ? 'starting' : w.reloading ? 'reloading' : w.retiring ? 'stopping' : s && s.inFlight > 0 ? 'busy' : 'idle';
  const requests = s?.requests ?? 0;
  const exceptions = s?.exceptions ?? 0;
  const inFlight = s?.inFlight ?? 0;
  const delta = w ? requests - (seenRequests.get(w) ?? 0) : 0;
  if (w) seenRequests.set(w, requests);
  return {
    id,
    pid: w?.pid ?? 0,
    status,
    requests,
    in_flight: inFlight,
    exceptions,
    harakiri_count: slot?.harakiri ?? 0,
    respawn_count: slot?.respawns ?? 0,
    rss: s?.rss ?? 0,
    avg_rt: s?.avgRtUs ?? 0,
    running_time: s?.runningTimeUs ?? 0,
    last_spawn: w ? Math.floor(w.spawnedAt / 1000) : 0,
    current_request: s?.current ? { method: s.current.method, uri: hideQuery ? withoutQuery(s.current.uri) : s.current.uri, running_ms: s.current.runningMs } : null,
    // A cheap slot has nothing to answer.
    responsive: s !== null || !w,
    accepting: status === 'idle' || status === 'busy' ? 1 : 0,
    delta_requests: delta,
    signals: 0,
    signal_queue: 0,
    vsz: w?.alive ? vszOf(w.pid) : 0,
    tx: s?.txBytes ?? 0,
    upgraded: s?.upgraded ?? 0,
    apps: [{ id: 0, modifier1: 0, mountpoint: '', startup_time: 0, requests, exceptions, chdir: '' }],
    cores: [{ id: 0, requests, static_requests: 0, routed_requests: 0, offloaded_requests: 0, write_errors: 0, read_errors: 0, in_request: inFlight > 0 ? 1 : 0, vars: [], req_info: {} }],
    ...(s?.health ? { health: healthJson(s.health) } : {}),
  };
}

/** A worker's requests at the previous stats query: delta_requests is counted from it. */
const seenRequests = new WeakMap<WorkerProcess, number>();

/** Virtual memory size from /proc (statm counts pages); 0 where there is no /proc. */
function vszOf(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/statm`, 'latin1').split(' ')[0]) * PAGE_SIZE;
  } catch {
    return 0;
  }
}

const PAGE_SIZE = 4096;

/**
 * uWSGI's socket fields. queue: for a TCP listener, the connections waiting to be accepted (the
 * rx_queue of its LISTEN line in /proc/net/tcp); Linux does not say it for a unix socket, so 0
 * there (as uWSGI reports on Linux). max_queue: the backlog (--listen).
 */
function socketStatsOf(sk: { name: string; proto: string; backlog: number }): SocketStatsJson {
  return { name: sk.name, proto: sk.proto, queue: tcpQueue(sk.name), max_queue: sk.backlog, shared: 0, can_offload: 0 };
}

function tcpQueue(name: string): number {
  const m = /:(\d+)$/.exec(name);
  if (!m || name.startsWith('/')) return 0;
  const port = Number(m[1]).toString(16).toUpperCase().padStart(4, '0');
  let queue = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const f = line.trim().split(/\s+/);
      // local_address is HEX_IP:HEX_PORT; st 0A is LISTEN; tx_queue:rx_queue.
      if (f[3] === '0A' && f[1]?.endsWith(`:${port}`)) queue += parseInt(f[4]!.split(':')[1]!, 16) || 0;
    }
  }
  return queue;
}

/** --stats-hide-query: a query string may carry a token or a session id; the path stays. */
function withoutQuery(uri: string): string {
  const q = uri.indexOf('?');
  return q === -1 ? uri : `${uri.slice(0, q)}?…`;
}
