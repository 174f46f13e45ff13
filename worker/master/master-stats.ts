import { defaults } from '../../common/defaults.js';
import { PORTICO_VERSION } from '../version.js';
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
  /** Microseconds since this process started. */
  running_time: number;
  last_spawn: number;
  current_request: { method: string; uri: string; running_ms: number } | null;
  /** False when the watchdog did not answer in time (the process is wedged past its thread too). */
  responsive: boolean;
}

/** One --cron / --cron-app task as the master runs it. */
export interface CronStatsJson {
  id: number;
  kind: string;
  when: string;
  /** ISO time of the next run. */
  next: string;
  running: boolean;
  runs: number;
  skipped: number;
}

export interface MasterStatsJson {
  version: string;
  pid: number;
  uid: number;
  gid: number;
  cwd: string;
  sockets: Array<{ name: string; proto: string }>;
  workers: WorkerStatsJson[];
  /** Present when the master runs cron tasks. */
  cron?: CronStatsJson[];
}

/**
 * The stats document: the master's own view (pids, respawns, harakiri) plus what each worker's
 * watchdog thread reads from its scoreboard, so a worker stuck in a request still shows it.
 */
export async function collectStats(master: Master, sockets: Array<{ name: string; proto: string }>, cron: CronStatus[] | null = null, hideQuery = false): Promise<MasterStatsJson> {
  const procs = [...master.workers.values(), ...master.leaving].sort((a, b) => a.id - b.id || a.spawnedAt - b.spawnedAt);
  const workers = await Promise.all(procs.map((w) => workerStats(master, w, hideQuery)));
  // Slots up to --processes with no process: uWSGI's "cheap" workers (--cheap, --cheaper).
  for (let id = 1; id <= master.processes; id++) {
    if (!master.workers.has(id)) workers.push(cheapSlot(master, id));
  }
  workers.sort((a, b) => a.id - b.id);
  return {
    version: PORTICO_VERSION,
    pid: process.pid,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    cwd: process.cwd(),
    sockets,
    workers,
    ...(cron ? { cron: cron.map((c) => ({ ...c, next: c.next.toISOString() })) } : {}),
  };
}

async function workerStats(master: Master, w: WorkerProcess, hideQuery: boolean): Promise<WorkerStatsJson> {
  const s = w.alive ? await w.control.stats(defaults.statsTimeoutMs) : null;
  const slot = master.slots.get(w.id);
  const status: WorkerStatsJson['status'] = !w.isReady ? 'starting'
    : w.reloading ? 'reloading'
    : w.retiring ? 'stopping'
    : s && s.inFlight > 0 ? 'busy' : 'idle';
  return {
    id: w.id,
    pid: w.pid,
    status,
    requests: s?.requests ?? 0,
    in_flight: s?.inFlight ?? 0,
    exceptions: s?.exceptions ?? 0,
    harakiri_count: slot?.harakiri ?? 0,
    respawn_count: slot?.respawns ?? 0,
    rss: s?.rss ?? 0,
    avg_rt: s?.avgRtUs ?? 0,
    running_time: s?.runningTimeUs ?? (Date.now() - w.spawnedAt) * 1000,
    last_spawn: Math.floor(w.spawnedAt / 1000),
    current_request: s?.current ? { method: s.current.method, uri: hideQuery ? withoutQuery(s.current.uri) : s.current.uri, running_ms: s.current.runningMs } : null,
    responsive: s !== null,
  };
}

function cheapSlot(master: Master, id: number): WorkerStatsJson {
  const slot = master.slots.get(id);
  return {
    id, pid: 0, status: 'cheap', requests: 0, in_flight: 0, exceptions: 0,
    harakiri_count: slot?.harakiri ?? 0, respawn_count: slot?.respawns ?? 0,
    rss: 0, avg_rt: 0, running_time: 0, last_spawn: 0, current_request: null, responsive: true,
  };
}

/** --stats-hide-query: a query string may carry a token or a session id; the path stays. */
function withoutQuery(uri: string): string {
  const q = uri.indexOf('?');
  return q === -1 ? uri : `${uri.slice(0, q)}?…`;
}
