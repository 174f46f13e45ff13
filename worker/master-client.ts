import { Socket } from 'node:net';
import { BEATS_PER_THRESHOLD, Scoreboard } from './watchdog/scoreboard.js';
import type { WatchdogConfig } from './watchdog/watchdog.js';
import type { WorkerServer } from './worker-server.js';
import { MANAGED_ENV } from '../common/managed-env.js';

/**
 * What the master tells a worker process it starts (in the PORTICO_WORKER environment variable):
 * its id and the guards the watchdog enforces. The master computes --max-requests-jitter per
 * worker, so `maxRequests` is already this worker's own limit.
 */
export interface ManagedWorkerConfig {
  id: number;
  /** fd of the shared listening socket, or null when the worker binds its own (under serve). */
  listenFd: number | null;
  /** fd of the watchdog's control pipe. */
  controlFd: number;
  harakiriMs: number;
  /**
   * How long the event loop may go without a heartbeat before it counts as blocked (stats, top);
   * under serve the watchdog also tells the master (`blockedEvents`), which sends it no new requests.
   */
  blockedMs: number;
  blockedEvents?: boolean;
  /** --log-slow in ms (0: off). */
  slowMs?: number;
  maxRequests: number;
  rssLimitBytes: number;
  /**
   * Whether anyone needs the watchdog thread: a guard above, or the master's --stats, --metrics
   * or --cheaper asking it. Without one, no thread (its own V8 heap costs about 10 MB).
   */
  watchdog: boolean;
  /** --reload: report the app's module graph to the master (portico:module). */
  reportModules?: boolean;
}

/** Messages a worker sends on its IPC channel. */
export type WorkerMessage =
  | { type: 'portico:ready'; id: number; pid: number }
  | { type: 'portico:retire'; id: number; reason: 'max-requests' }
  | { type: 'portico:module'; id: number; file: string }
  /** A request that ran past --log-slow ended. */
  | { type: 'portico:slow'; id: number; method: string; uri: string; durationMs: number }
  /** An upgraded connection the gateway handed over (portico:upgrade) closed. */
  | { type: 'portico:upgrade-closed'; id: number };

/** What `portico serve`'s master sends a worker with an upgrade's client connection (its descriptor the handle). */
export interface UpgradeHandoverMessage {
  type: 'portico:upgrade';
  /** The request as a uwsgi packet, base64. */
  packet: string;
  /** The client's bytes after its head, base64. */
  rest: string;
}
export const UPGRADE_HANDOVER = 'portico:upgrade';

/** The IPC message a worker gets with a connection the master accepted for it (master/cheap-listener.ts). */
export const HANDOVER = 'portico:connection';

/** This process's config when a master started it, else null. */
export function managedConfig(env: NodeJS.ProcessEnv = process.env): ManagedWorkerConfig | null {
  const raw = env[MANAGED_ENV];
  return raw ? (JSON.parse(raw) as ManagedWorkerConfig) : null;
}

/**
 * The worker's side of the master: the scoreboard and its watchdog thread, then once the server
 * accepts, "ready"; --max-requests reached, "retire" (the master starts a replacement first and
 * only then stops this one, so nothing is refused meanwhile).
 */
export async function createScoreboard(config: ManagedWorkerConfig): Promise<Scoreboard> {
  const slowMs = config.slowMs ?? 0;
  const board = new Scoreboard(
    config.maxRequests,
    () => send({ type: 'portico:retire', id: config.id, reason: 'max-requests' }),
    slowMs,
    (method, uri, durationMs) => send({ type: 'portico:slow', id: config.id, method, uri, durationMs }),
  );
  const watchdogConfig: WatchdogConfig = {
    sab: board.sab,
    controlFd: config.controlFd,
    harakiriMs: config.harakiriMs,
    blockedMs: config.blockedMs,
    blockedEvents: config.blockedEvents === true,
    slowMs,
    rssLimitBytes: config.rssLimitBytes,
  };
  if (config.blockedMs > 0) {
    // Four timer callbacks a second at the default 1 s threshold.
    setInterval(() => board.beat(), config.blockedMs / BEATS_PER_THRESHOLD).unref();
  }
  if (!config.watchdog) return board;
  // Health is read only through the watchdog (--stats, portico top, /metrics): node:perf_hooks and
  // node:v8 (about 0.6 MB of a process's RSS) load only then.
  (await import('./watchdog/health.js')).watchHealth(board);
  const { Worker } = await import('node:worker_threads');
  const thread = new Worker(new URL('./watchdog/watchdog.js', import.meta.url), { workerData: watchdogConfig });
  // The process ends when the worker server does; the watchdog never keeps it alive.
  thread.unref();
  return board;
}

/**
 * --reload: tell the master each file of the app's module graph, so that it watches them. Before
 * the app is imported; the returned function reports what require() loaded, once it has.
 */
export async function reportModuleGraph(config: ManagedWorkerConfig): Promise<() => void> {
  if (!config.reportModules) return () => {};
  const sent = new Set<string>();
  const report = (file: string): void => {
    if (sent.has(file)) return;
    sent.add(file);
    send({ type: 'portico:module', id: config.id, file });
  };
  return (await import('./reload/module-graph.js')).trackModuleGraph(report);
}

export function announceReady(config: ManagedWorkerConfig, worker: WorkerServer): void {
  send({ type: 'portico:ready', id: config.id, pid: process.pid });
  // The master died (or was SIGKILLed): finish what is in flight and go, never linger orphaned.
  process.on('disconnect', () => void worker.stop(true).then(() => process.exit(0)));
}

/** The gateway's upgrades that reach this worker with their connections (UpgradeHandoverMessage). */
export function takeUpgrades(config: ManagedWorkerConfig, worker: WorkerServer): void {
  process.on('message', (m: Partial<UpgradeHandoverMessage> | null, handle: unknown) => {
    if (m?.type !== UPGRADE_HANDOVER || !(handle instanceof Socket)) return;
    const handed = { packet: Buffer.from(m.packet ?? '', 'base64'), rest: Buffer.from(m.rest ?? '', 'base64') };
    worker.adoptUpgrade(handle, handed, () => send({ type: 'portico:upgrade-closed', id: config.id }));
  });
}

function send(message: WorkerMessage): void {
  // A master gone (its channel closed) hears nothing: no 'error' on the process for it.
  if (process.connected) process.send?.(message);
}
