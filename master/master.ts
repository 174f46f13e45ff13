import { join } from 'node:path';
import { defaults } from '../config/defaults.js';
import type { Logger } from '../common/logger.js';
import type { ManagedWorkerConfig, WorkerMessage } from '../worker/master-client.js';
import type { WatchdogEvent } from './control-channel.js';
import type { CheaperSettings } from './cheaper.js';
import { ChainReload } from './chain-reload.js';
import { CheaperLoop } from './cheaper-loop.js';
import { RespawnBackoff } from './respawn-backoff.js';
import { formatSample, SAMPLE_DEADLINE_MS } from '../worker/watchdog/stack-sampler.js';
import type { SharedSocket } from './shared-socket.js';
import { WorkerProcess, type ExitReason, type RetireReason } from './worker-process.js';

export interface MasterOptions {
  /** The CLI entry the workers run (`portico worker APP ...` in worker mode). */
  main: string;
  /** Arguments for each worker; `--socket PATH` is added per worker under serve. */
  workerArgv: string[];
  processes: number;
  /** Worker mode: one socket every worker inherits. */
  shared: SharedSocket | null;
  /** Serve mode: each worker binds its own socket in this directory. */
  runDir: string | null;
  harakiriSeconds: number;
  harakiriGraceSeconds: number;
  /** --log-slow: a request running longer is logged with its stack, sampled at the threshold (0: off). */
  logSlowSeconds?: number;
  maxRequests: number;
  maxRequestsJitter: number;
  reloadOnRssMb: number;
  minWorkerLifetimeSeconds: number;
  gracefulTimeoutSeconds: number;
  log: Logger;
  /** Workers started at once (--cheap: 0, --cheaper: --cheaper-initial); default --processes. */
  initialWorkers?: number;
  /** Workers a --cheap master starts on the first request; default --processes. */
  onDemandWorkers?: number;
  /** --cheaper: grow and shrink the pool with the load (null: a fixed pool). */
  cheaper?: CheaperSettings | null;
  /** Requests waiting for a worker (serve: the gateway's queue), for --cheaper. */
  waiting?: () => number;
  /** A worker accepts (serve: the gateway starts sending it requests). */
  onReady?: (w: WorkerProcess) => void;
  /** A worker is being stopped or died (serve: the gateway stops sending it requests). */
  onLeaving?: (w: WorkerProcess, reason: ExitReason) => void;
  /**
   * A worker's event loop stopped answering (blocked), or answers again (serve: the gateway gives
   * it no new requests meanwhile). Given, the workers keep the heartbeat their watchdog checks.
   */
  onBlocked?: (w: WorkerProcess, blocked: boolean) => void;
  /**
   * What the workers print to stdout and stderr (the app's console.log, Node's crash stacks) goes
   * into `log` (its main file), as uWSGI's master sends it to its `logger`/`logto`; else it is
   * the master's own stdout and stderr.
   */
  workerOutputToLog?: boolean;
  /** A chain reload replaced every worker: what else it replaces (serve: the gateway processes). */
  afterChainReload?: () => Promise<void>;
}

/**
 * How long a worker's event loop may not answer before it gets no new requests: a second, or half
 * of --harakiri when that is shorter, so the gateway knows well before the kill.
 */
function blockedThresholdMs(harakiriSeconds: number): number {
  return harakiriSeconds > 0 ? Math.min(1000, (harakiriSeconds * 1000) / 2) : 1000;
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}

/** Why a worker process was started (the spawns metric's label). */
export type SpawnReason = 'initial' | 'respawn' | 'replace' | 'cheap' | 'cheaper' | 'scale-up';

/** Per worker id, across its successive processes (uWSGI's respawn_count and harakiri_count). */
export interface SlotCounters {
  respawns: number;
  harakiri: number;
}

/**
 * The master: starts --processes workers, replaces one that dies (with backoff when it keeps
 * dying), enforces the guards the watchdogs report (--harakiri, --reload-on-rss) and the workers'
 * own --max-requests, chain-reloads on SIGHUP, scales on SIGTTIN/SIGTTOU and stops them all on
 * SIGTERM. A worker that is replaced on purpose is stopped only after its replacement accepts.
 */
export class Master {
  /** Set before start() when --stats or --metrics ask the workers' watchdogs (control-channel.ts). */
  watchdogQueries = false;
  /** --reload: told each file of the app's module graph the workers import (reload-watcher.ts). */
  moduleListener: ((file: string) => void) | null = null;
  readonly options: MasterOptions;
  readonly log: Logger;
  /** The current process of each worker id. */
  readonly workers = new Map<number, WorkerProcess>();
  /** Processes being stopped (replaced, harakiri, scaled down), still finishing requests. */
  readonly leaving = new Set<WorkerProcess>();
  readonly slots = new Map<number, SlotCounters>();
  /** Restarts by reason, for the metrics. */
  readonly restarts = new Map<ExitReason, number>();
  /** Processes started by reason, for the metrics. */
  readonly spawns = new Map<SpawnReason, number>();
  private readonly backoff: RespawnBackoff;
  private readonly respawnTimers = new Set<NodeJS.Timeout>();
  private spawnSeq = 0;
  /** Set once stop() began: nothing new is started. */
  stopping = false;
  private readonly chainReload = new ChainReload(this);
  private cheaperLoop: CheaperLoop | null = null;

  constructor(options: MasterOptions) {
    this.options = options;
    this.log = options.log;
    this.backoff = new RespawnBackoff(options.minWorkerLifetimeSeconds * 1000);
  }

  /** Starts every worker and resolves once all accept; a worker that fails to start fails it. */
  async start(): Promise<void> {
    const initial = this.options.initialWorkers ?? this.options.processes;
    const ids = Array.from({ length: initial }, (_, i) => i + 1);
    const started = ids.map((id) => this.spawn(id, 'initial'));
    try {
      await Promise.all(started.map((w) => w.ready));
    } catch (err) {
      await this.stop(false);
      throw err;
    }
    for (const w of started) this.options.onReady?.(w);
    if (this.options.cheaper) {
      this.cheaperLoop = new CheaperLoop(this, this.options.cheaper, this.options.waiting ?? (() => 0));
      this.cheaperLoop.start();
    }
  }

  get processes(): number {
    return this.options.processes;
  }

  /** Every worker process: the current one of each id, and those being stopped. */
  all(): WorkerProcess[] {
    return [...this.workers.values(), ...this.leaving];
  }

  private counters(id: number): SlotCounters {
    let c = this.slots.get(id);
    if (!c) this.slots.set(id, (c = { respawns: 0, harakiri: 0 }));
    return c;
  }

  private spawn(id: number, reason: SpawnReason): WorkerProcess {
    this.spawns.set(reason, (this.spawns.get(reason) ?? 0) + 1);
    const o = this.options;
    const seq = ++this.spawnSeq;
    const socketPath = o.runDir ? join(o.runDir, `worker-${id}-${seq}.sock`) : null;
    const jitter = o.maxRequestsJitter > 0 ? Math.floor(Math.random() * (o.maxRequestsJitter + 1)) : 0;
    const config: ManagedWorkerConfig = {
      id,
      listenFd: null,
      controlFd: 0,
      harakiriMs: o.harakiriSeconds * 1000,
      blockedMs: blockedThresholdMs(o.harakiriSeconds),
      blockedEvents: o.onBlocked !== undefined,
      slowMs: (o.logSlowSeconds ?? 0) * 1000,
      maxRequests: o.maxRequests > 0 ? o.maxRequests + jitter : 0,
      rssLimitBytes: o.reloadOnRssMb * 1024 * 1024,
      watchdog: o.harakiriSeconds > 0 || (o.logSlowSeconds ?? 0) > 0 || o.onBlocked !== undefined || o.reloadOnRssMb > 0 || !!o.cheaper || this.watchdogQueries,
      reportModules: this.moduleListener !== null,
    };
    const argv = socketPath ? [...o.workerArgv, '--socket', socketPath] : o.workerArgv;
    const w = new WorkerProcess({
      main: o.main,
      argv,
      config,
      listenFd: o.shared?.fd ?? null,
      socketPath,
      onEvent: (proc, e) => this.onWatchdog(proc, e),
      onMessage: (proc, m) => this.onMessage(proc, m),
      onOutput: o.workerOutputToLog ? (_proc, line) => o.log.output(line) : undefined,
    });
    this.workers.set(id, w);
    void w.exited.then(({ code, signal }) => this.onExit(w, code, signal));
    return w;
  }

  private onMessage(w: WorkerProcess, m: WorkerMessage): void {
    if (m?.type === 'portico:module') {
      this.moduleListener?.(m.file);
      return;
    }
    if (m?.type === 'portico:slow') {
      this.log.warn(`SLOW REQUEST on worker ${w.id} (pid: ${w.pid}): ${m.method} ${m.uri} took ${seconds(m.durationMs)} s (--log-slow ${this.options.logSlowSeconds})`);
      return;
    }
    if (m?.type === 'portico:retire') {
      this.log.info(`worker ${w.id} (pid: ${w.pid}) reached --max-requests: starting its replacement`);
      void this.replace(w, 'max-requests');
    }
  }

  private onWatchdog(w: WorkerProcess, e: WatchdogEvent): void {
    if (e.event === 'rss') {
      this.log.info(`worker ${w.id} (pid: ${w.pid}) uses ${Math.round(e.rss / 1048576)} MB, over --reload-on-rss ${this.options.reloadOnRssMb}: recycling it`);
      void this.replace(w, 'rss');
      return;
    }
    if (w.retiring === 'harakiri' || !w.alive) return;
    if (e.event === 'blocked' || e.event === 'answering') return this.onBlocked(w, e.event === 'blocked', e.ms);
    const o = this.options;
    if (e.event === 'slow') {
      this.log.warn(
        `SLOW REQUEST on worker ${w.id} (pid: ${w.pid}): ${e.method} ${e.uri} still running after ${seconds(e.runningMs)} s (--log-slow ${o.logSlowSeconds}), its stack:\n${formatSample(e.stack)}`,
      );
      return;
    }
    this.counters(w.id).harakiri++;
    w.stuckSince = e.startedAt;
    const stack = e.stack ? `, its stack:\n${formatSample(e.stack)}` : '';
    this.log.error('PORTICO_ERR_HARAKIRI', `HARAKIRI ON WORKER ${w.id} (pid: ${w.pid}): ${e.method} ${e.uri} ran ${seconds(e.runningMs)} s (--harakiri ${o.harakiriSeconds})${stack}`);
    this.options.onLeaving?.(w, 'harakiri');
    void w.stop('harakiri', o.harakiriGraceSeconds * 1000);
  }

  private onBlocked(w: WorkerProcess, blocked: boolean, ms: number): void {
    if (w.blocked === blocked) return;
    w.blocked = blocked;
    const s = seconds(ms);
    if (blocked) this.log.warn(`worker ${w.id} (pid: ${w.pid}) is not answering: its event loop has been blocked for ${s} s; no new requests for it until it answers`);
    else this.log.info(`worker ${w.id} (pid: ${w.pid}) answers again (event loop blocked for ${s} s)`);
    this.options.onBlocked?.(w, blocked);
  }

  private onExit(w: WorkerProcess, code: number | null, signal: NodeJS.Signals | null): void {
    this.leaving.delete(w);
    const current = this.workers.get(w.id) === w;
    const reason: ExitReason = w.retiring ?? 'crash';
    if (reason !== 'shutdown') this.restarts.set(reason, (this.restarts.get(reason) ?? 0) + 1);
    if (w.retiring && w.retiring !== 'shutdown') this.log.info(`worker ${w.id} (pid: ${w.pid}) exited (${w.retiring})`);
    if (!current) return; // replaced on purpose: its successor is already serving
    this.workers.delete(w.id);
    if (this.stopping || reason === 'scale-down') return;
    if (reason === 'crash') {
      this.options.onLeaving?.(w, 'crash');
      if (!w.isReady && this.chainReload.running) return; // a reload's new worker that failed to import: the reload handles it
      const how = signal ? `killed by signal ${signal}` : `exit code ${code}`;
      const { delayMs, streak } = this.backoff.died(w.id, Date.now() - w.spawnedAt);
      if (streak >= 3) {
        this.log.error(
          'PORTICO_ERR_WORKER_CRASH_LOOP',
          `worker ${w.id} died ${streak} times in a row within ${this.options.minWorkerLifetimeSeconds} s of starting (${how}); next start in ${delayMs / 1000} s`,
        );
      } else {
        this.log.error('PORTICO_ERR_WORKER_DIED', `DAMN ! worker ${w.id} (pid: ${w.pid}) died, ${how} :( trying respawn${delayMs ? ` in ${delayMs / 1000} s` : ''} ...`);
      }
      this.respawnLater(w.id, delayMs);
      return;
    }
    // Harakiri: the replacement starts at once (the others kept serving meanwhile).
    this.respawnLater(w.id, 0);
  }

  private respawnLater(id: number, delayMs: number): void {
    const timer = setTimeout(() => {
      this.respawnTimers.delete(timer);
      if (this.stopping || this.workers.has(id)) return;
      this.counters(id).respawns++;
      const w = this.spawn(id, 'respawn');
      w.ready.then(
        () => {
          this.log.info(`Respawned worker ${id} (new pid: ${w.pid})`);
          this.options.onReady?.(w);
        },
        () => {},
      );
    }, delayMs);
    this.respawnTimers.add(timer);
  }

  /**
   * Starts a new process for `old`'s id and stops `old` once the new one accepts. Returns false
   * (and `old` keeps serving) if the new one fails to start, e.g. an app that no longer imports.
   */
  async replace(old: WorkerProcess, reason: RetireReason): Promise<boolean> {
    if (old.retiring || this.stopping || this.workers.get(old.id) !== old) return true;
    old.retiring = reason;
    this.counters(old.id).respawns++;
    const fresh = this.spawn(old.id, 'replace');
    try {
      await fresh.ready;
    } catch (err) {
      old.retiring = null;
      if (!this.stopping) this.workers.set(old.id, old);
      this.log.error('PORTICO_ERR_APP_LOAD', `worker ${old.id}: its replacement failed to start, the old one (pid ${old.pid}) keeps serving: ${(err as Error).message}`);
      return false;
    }
    this.options.onReady?.(fresh);
    const stopped = this.retire(old, reason);
    // A chain reload moves on only once the old process is gone: until it handles its SIGTERM,
    // it may still accept from a shared socket and answer with the old code.
    if (reason === 'reload') await stopped;
    return true;
  }

  /** Stops a worker that no longer gets new requests, letting it finish what it has. */
  private retire(w: WorkerProcess, reason: RetireReason): Promise<void> {
    this.leaving.add(w);
    this.options.onLeaving?.(w, reason);
    // The same second of margin as stop(): the worker's own graceful timeout fires first, so it
    // closes what is left its way (a WebSocket gets 1001) instead of dying of SIGKILL.
    return w.stop(reason, this.options.gracefulTimeoutSeconds * 1000 + 1000);
  }

  /**
   * SIGUSR2: every worker's app-thread stack and the requests it is on, logged, nobody killed
   * (uWSGI's tracebacker). Each answer is bounded by the watchdog's sample deadline.
   */
  async dumpStacks(): Promise<void> {
    const procs = this.all()
      .filter((w) => w.alive)
      .sort((a, b) => a.id - b.id);
    const answers = await Promise.all(procs.map((w) => (w.watchdog ? w.control.ask('stack', SAMPLE_DEADLINE_MS + defaults.statsTimeoutMs) : null)));
    const now = Date.now();
    procs.forEach((w, i) => {
      const a = answers[i];
      const head = `STACK OF WORKER ${w.id} (pid: ${w.pid})`;
      // Light processes: the watchdog thread (which samples the stack) runs only when something needs it.
      if (!w.watchdog)
        return this.log.warn(
          `${head}: no watchdog thread runs in it to take the stack; it starts with --harakiri, --log-slow, --reload-on-rss, --stats, --metrics or --cheaper (and always under portico serve)`,
        );
      if (!a) return this.log.warn(`${head}: its watchdog did not answer`);
      const requests = a.running.length === 0 ? 'no request in flight' : a.running.map((r) => `${r.method} ${r.uri} running ${seconds(now - r.startedAt)} s`).join('; ');
      const blocked = a.blockedMs > 0 ? `, event loop blocked for ${seconds(a.blockedMs)} s` : '';
      this.log.info(`${head}: ${requests}${blocked}\n${formatSample(a.stack)}`);
    });
  }

  /** Chain reload (SIGHUP, --touch-reload): see chain-reload.ts. */
  reload(): Promise<void> {
    return this.chainReload.request();
  }

  /** SIGTTIN / SIGTTOU: one worker more, or one fewer (never below one). */
  scale(delta: 1 | -1): void {
    if (this.stopping) return;
    if (delta > 0) {
      if (this.options.processes >= defaults.maxProcesses) return this.log.info(`SIGTTIN: already at ${defaults.maxProcesses} workers, the most --processes allows`);
      this.options.processes++;
      this.addWorker('SIGTTIN', 'scale-up');
      return;
    }
    if (this.options.processes <= 1) return this.log.info('SIGTTOU: already at one worker');
    this.options.processes--;
    const highest = Math.max(...this.workers.keys());
    if (highest > this.options.processes) this.removeWorker(highest, 'scale-down', 'SIGTTOU');
  }

  /** Starts a worker on the lowest free id, up to --processes; it gets traffic once it accepts. */
  addWorker(why: string, reason: SpawnReason): WorkerProcess | null {
    let id = 1;
    while (this.workers.has(id)) id++;
    if (this.stopping || id > this.options.processes) return null;
    this.log.info(`spawning worker ${id}: ${why}`);
    const w = this.spawn(id, reason);
    w.ready.then(
      () => this.options.onReady?.(w),
      () => {},
    );
    return w;
  }

  /** Stops worker `id` for good (it is not replaced); it finishes its in-flight requests first. */
  removeWorker(id: number, reason: RetireReason, why: string): void {
    const w = this.workers.get(id);
    if (!w || this.stopping) return;
    this.log.info(`stopping worker ${id}: ${why}`);
    this.workers.delete(id);
    void this.retire(w, reason);
  }

  /**
   * A request is waiting and no worker runs (--cheap, or every worker gone): start them, as uWSGI's
   * cheap mode does on the first request.
   */
  demand(): void {
    if (this.workers.size > 0 || this.stopping) return;
    const count = Math.max(1, this.options.onDemandWorkers ?? this.options.processes);
    for (let i = 0; i < count; i++) this.addWorker('first request (--cheap)', 'cheap');
  }

  /** Graceful: each worker finishes its in-flight requests (--graceful-timeout); else at once. */
  async stop(graceful: boolean): Promise<void> {
    this.stopping = true;
    this.cheaperLoop?.stop();
    for (const t of this.respawnTimers) clearTimeout(t);
    this.respawnTimers.clear();
    const all = this.all();
    if (!graceful) for (const w of all) w.signal('SIGINT');
    // A second of margin: the worker's own graceful timeout fires first and it exits cleanly.
    const graceMs = graceful ? this.options.gracefulTimeoutSeconds * 1000 + 1000 : 1000;
    await Promise.all(all.map((w) => w.stop(w.retiring ?? 'shutdown', graceMs)));
  }
}
