import { unwatchFile, watchFile } from 'node:fs';
import { rotateBySize } from '../common/log-rotation.js';
import { resumeOptimizer } from '../common/optimizer-pause.js';
import type { PromMetricJSON } from '../common/request-metrics.js';
import type { CronClock, CronScheduler } from './cron-scheduler.js';
import type { CronTask } from './cron-spec.js';
import type { Master } from './master.js';
import { collectStats, type GatewayStatsJson } from './master-stats.js';
import type { MetricsServer } from './metrics-server.js';
import { removePidfile, writePidfile } from './pidfile.js';
import { ReloadWatcher } from './reload-watcher.js';
import { StatsServer } from './stats-server.js';
import { holdStopSignals, waitForStopSignals } from '../cli/cli-values.js';

export interface RuntimeOptions {
  /** --pidfile: written by the command before privileges drop; removed here at exit. */
  pidfile?: string;
  /** --pidfile2: written here, after the drop (uWSGI's pidfile2), and removed at exit. */
  pidfile2?: string;
  /** --stats-hide-query: request URIs in the stats document lose their query strings. */
  statsHideQuery?: boolean;
  touchReload?: string;
  /** --reload: chain-reload when a file of the app's module graph changes. */
  reload?: boolean;
  /** --log-maxsize (or a logger's own maxsize): each log file and the size past which it is rotated. */
  logRotate?: Array<{ file: string; maxBytes: number }>;
  stats?: string;
  /** --metrics HOST:PORT: /metrics, /healthz, /readyz. */
  metrics?: string;
  /** More metrics for the scrape, one list per process (serve: the gateway's, or each gateway process's). */
  metricsSource?: () => Promise<PromMetricJSON[][]>;
  /** The stats document's gateway processes (serve --gateway-processes). */
  gateways?: () => GatewayStatsJson[] | null;
  /** What the stats document lists as the master's sockets. */
  sockets: () => Array<{ name: string; proto: string; backlog: number }>;
  /** Runs first on a stop (serve: the gateway stops accepting and finishes its requests). */
  beforeStop?: (graceful: boolean) => Promise<void>;
  /** The log files were reopened (serve: the gateway processes reopen theirs). */
  onReopenLogs?: () => void;
  /** Runs last (remove the sockets), also when the workers failed to start. */
  afterStop?: () => void;
  /** Logged once every worker accepts and every signal is handled: the "ready" line. */
  readyLine: string;
  /** --cron / --cron-app: run by the master itself, never inside a worker. */
  cron?: CronTask[];
  /** Tests only: a fake clock drives the cron schedule. */
  cronClock?: CronClock;
}

/** How often --touch-reload looks at the file's mtime. */
const TOUCH_POLL_MS = 500;

/**
 * Starts the master's workers and runs until stopped, the way uWSGI's master answers signals:
 * SIGTERM: graceful stop (a second SIGTERM, or SIGINT: stop now); SIGHUP: chain reload;
 * SIGTTIN / SIGTTOU: a worker more / fewer; SIGUSR1: reopen the log files (logrotate); SIGUSR2:
 * log every worker's stack and the requests it is on (docs/diagnostics.md).
 * Also writes --pidfile2, watches --touch-reload and serves --stats and --metrics. All of that is
 * in place before the workers start and the ready line is logged (SIGTTIN's default action would
 * suspend the master). Resolves once all is stopped; rejects if the workers fail to start.
 */
export async function runMaster(master: Master, opts: RuntimeOptions): Promise<void> {
  const log = master.log;
  /** Declared first: the stats server may be asked about it before the table starts. */
  let cron: { stop(): void; scheduler: CronScheduler } | null = null;
  let stats: StatsServer | null = null;
  let metrics: MetricsServer | null = null;
  let watching = false;
  let reloadWatcher: ReloadWatcher | null = null;
  const reopenLogs = (message: string): void => {
    log.reopen(message);
    for (const w of master.workers.values()) w.signal('SIGUSR1');
    opts.onReopenLogs?.();
  };
  // SIGTERM and SIGINT from before the workers start: one arriving meanwhile (a supervisor, a
  // client of a worker that is up while another starts) would kill the master by the signal and
  // leave its workers behind; it is kept and acted on once the start is done.
  holdStopSignals(true);
  const handlers: Array<[NodeJS.Signals, () => void]> = [
    [
      'SIGHUP',
      () => {
        log.info('SIGHUP: chain reload');
        void master.reload();
      },
    ],
    ['SIGTTIN', () => master.scale(1)],
    ['SIGTTOU', () => master.scale(-1)],
    ['SIGUSR1', () => reopenLogs('SIGUSR1: log files reopened')],
    [
      'SIGUSR2',
      () => {
        log.info('SIGUSR2: the stack of every worker');
        void master.dumpStacks();
      },
    ],
  ];
  const rotation = opts.logRotate?.length ? rotateBySize(opts.logRotate, reopenLogs) : null;
  const teardown = (): void => {
    if (rotation) clearInterval(rotation);
    cron?.stop();
    for (const [sig, fn] of handlers) process.off(sig, fn);
    if (watching) unwatchFile(opts.touchReload!);
    reloadWatcher?.close();
    stats?.close();
    metrics?.close();
    opts.afterStop?.();
    if (opts.pidfile2) removePidfile(opts.pidfile2, log);
    if (opts.pidfile) removePidfile(opts.pidfile, log);
  };
  // Whatever fails before the workers run (a --stats port in use) still removes the socket and
  // the pidfiles: a failed start leaves nothing behind.
  try {
    if (opts.pidfile2) writePidfile(opts.pidfile2);
    master.watchdogQueries = !!(opts.stats || opts.metrics);
    if (opts.stats) {
      const collect = () => collectStats(master, opts.sockets(), cron?.scheduler.status() ?? null, opts.statsHideQuery === true, opts.gateways?.() ?? null);
      stats = new StatsServer(opts.stats, collect, log);
      await stats.listen();
      log.info(`stats server on ${opts.stats}`);
    }
    if (opts.metrics) {
      // Loaded only when asked for: every worker process imports this module too.
      const { MetricsServer } = await import('./metrics-server.js');
      metrics = new MetricsServer(opts.metrics, master, opts.metricsSource, log);
      await metrics.listen();
      log.info(`metrics server on ${opts.metrics} (/metrics, /healthz, /readyz)`);
    }
    if (opts.touchReload) {
      const file = opts.touchReload;
      watching = true;
      watchFile(file, { interval: TOUCH_POLL_MS }, (cur, prev) => {
        if (cur.mtimeMs === prev.mtimeMs) return;
        log.info(`${file} touched: chain reload`);
        void master.reload();
      });
    }
    if (opts.reload) {
      const watcher = (reloadWatcher = new ReloadWatcher(master, log));
      master.moduleListener = (file) => watcher.add(file);
      log.info('--reload: the workers chain-reload when a file of the app changes (a development mode: off in production)');
    }
    for (const [sig, fn] of handlers) process.on(sig, fn);
    await master.start();
  } catch (err) {
    await opts.beforeStop?.(false);
    teardown();
    throw err;
  }
  // Started here, not in Master: a chain reload replaces the workers, never the cron table.
  if (opts.cron?.length) {
    const { startCron } = await import('./cron-scheduler.js');
    cron = await startCron(opts.cron, log, opts.cronClock);
  }
  let stopping: Promise<void> | null = null;
  const stop = (graceful: boolean): Promise<void> => {
    // "Stop now" during a graceful stop: the workers get SIGINT on top of their SIGTERM.
    if (stopping && !graceful) void master.stop(false);
    const run = async (): Promise<void> => {
      await opts.beforeStop?.(graceful);
      await master.stop(graceful);
    };
    return (stopping ??= run().catch(() => {}));
  };
  resumeOptimizer();
  log.info(opts.readyLine);
  await waitForStopSignals(log, stop);
  teardown();
  log.info(`portico master ${process.pid}: stopped`);
  log.flush();
}
