import { rmSync } from 'node:fs';
import { PorticoError } from '../common/errors.js';
import { Logger } from '../common/logger.js';
import { fileURLToPath } from 'node:url';
import { loadCommandConfig } from '../config/config-resolve.js';
import { CONFIG_FOOTER, formatHelp, serveOptions, toArgv, workerOptionsBase } from '../config/option-schema.js';
import { gatewayMetricsJSON } from '../common/request-metrics.js';
import { GatewayServer } from '../gateway/gateway-server.js';
import { checkAppFile, KIND_RULES } from '../worker/app-file.js';
import { Master } from '../master/master.js';
import { runMaster } from '../master/master-runtime.js';
import { removePidfile, writePidfile } from '../master/pidfile.js';
import { makeRunDir } from '../master/run-dir.js';
import { UpgradeHandover } from '../master/upgrade-handover.js';
import { takeActivatedFd } from '../master/shared-socket.js';
import type { ErrorCode } from '../common/errors.js';
import type { PromMetricJSON } from '../common/request-metrics.js';
import type { GatewayStatsJson } from '../master/master-stats.js';
import { intOption, logFormatOption } from './cli-values.js';
import type { WorkerProcess } from '../master/worker-process.js';
import { gatewayOptionsFrom } from './gateway-command.js';
import { dropPrivileges, MAIN, masterGuards, runtimeOptions } from './master-values.js';
import { giveLogFiles, logFilesOption } from './log-options.js';
import { listenAddressOption, privilegeOptions } from './option-checks.js';

const USAGE = `Usage: portico serve APP --http HOST:PORT [--workers N] [--link native|uwsgi] [--static /prefix=DIR]... [worker and master options]

The whole stack in one command: a master with N workers on unix sockets in a private runtime
directory, and the gateway in front in the master's process. APP is path/to/module.{js,mjs,cjs}[:exportName].
${KIND_RULES}`;

export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = loadCommandConfig('serve', argv);
  if (values.help) {
    process.stdout.write(formatHelp(USAGE, serveOptions, CONFIG_FOOTER));
    return 0;
  }
  const app = values.module;
  // Socket activation (a systemd .socket unit on the HTTP port) hands over the listener: --http is optional.
  const httpFd = takeActivatedFd();
  const http = values.http ?? (httpFd === null ? undefined : `unix:/proc/self/fd/${httpFd}`);
  if (!app || !http) {
    process.stderr.write(`${USAGE}\n\nportico serve: APP and --http are required\n`);
    return 2;
  }
  const link = values.link;
  if (link !== 'native' && link !== 'uwsgi') throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--link must be native or uwsgi, not ${JSON.stringify(link)}`);
  // Every option is checked (a bad --cron spec, --cheaper above --processes, an address, a
  // directory) before anything binds: one line and a non-zero exit, nothing left behind.
  if (values.http !== undefined) listenAddressOption('http', values.http, { unix: true });
  const logs = logFilesOption(values);
  checkAppFile(app);
  const guards = masterGuards(values);
  const runtime = runtimeOptions(values);
  const privileges = privilegeOptions(values);
  const gatewayOptions = gatewayOptionsFrom(http, [], values);
  const gatewayProcesses = intOption('gateway-processes', values['gateway-processes'], 0, MAX_GATEWAY_PROCESSES) ?? 0;
  const log = new Logger({ format: logFormatOption(values['log-format']), file: logs.main, requestFile: logs.requests });
  const runDir = makeRunDir(log);
  // Upgraded connections go to the workers themselves: the gateway is out of their data path.
  const upgrades = new UpgradeHandover();
  const removeRunDir = (): void => rmSync(runDir, { recursive: true, force: true });
  const serverOptions = {
    ...gatewayOptions,
    dynamicUpstreams: true,
    // Each worker has a socket of its own: one version 2 link to it carries all its requests.
    upstreamLinks: 1,
    metrics: values.metrics !== undefined,
    // The workers log what they answer; the gateway what it answers itself.
    accessLog: values['disable-logging'] === true ? (false as const) : ('own' as const),
  };
  // The gateway binds first (a port below 1024 needs root), then privileges drop, then the
  // workers start; requests that arrive meanwhile wait in the --listen queue for the first one.
  // --gateway-processes N: the master binds the HTTP socket and has it listen (it never accepts
  // on it), and N gateway processes accept from that one queue (master/gateway-process.ts).
  const front: Front =
    gatewayProcesses >= 2
      ? new (await import('../master/gateway-process.js')).GatewayFleet({
          count: gatewayProcesses,
          entry: GATEWAY_CHILD,
          config: { ...serverOptions, logFile: logs.main, requestLogFile: logs.requests },
          http,
          httpFd,
          log,
          upgrades,
          gracefulTimeoutSeconds: guards.gracefulTimeoutSeconds,
          minLifetimeSeconds: guards.minWorkerLifetimeSeconds,
          outputToLog: logs.main !== undefined,
          demand: (): void => master.demand(),
          // Not an option: bench/gateway-processes-bench.ts compares the two layouts with it.
          partition: process.env.PORTICO_BENCH_GATEWAY_PARTITION === '1',
        })
      : inMasterFront(new GatewayServer({ ...serverOptions, listenFd: httpFd ?? undefined, logger: log, onNoUpstream: (): void => master.demand(), upgradeHandOff: upgrades }));
  const scheme = link === 'native' ? 'portico' : 'uwsgi';
  const upstream = (w: WorkerProcess): string => `${scheme}://unix:${w.socketPath}`;
  const master = new Master({
    ...guards,
    main: MAIN,
    workerArgv: ['worker', app, ...toArgv(values, workerOptionsBase)],
    shared: null,
    runDir,
    log,
    workerOutputToLog: logs.main !== undefined,
    waiting: () => front.queueDepth,
    onReady: (w) => {
      upgrades.add(upstream(w), w);
      front.add(upstream(w), w.id);
    },
    onLeaving: (w, reason) => {
      upgrades.remove(upstream(w));
      front.remove(upstream(w), reason === 'harakiri' ? 'PORTICO_ERR_HARAKIRI' : undefined, w.stuckSince ?? undefined);
    },
    onBlocked: (w, blocked) => front.setStalled(upstream(w), blocked),
    afterChainReload: () => front.reload(),
  });
  try {
    await front.bind();
    // uWSGI's pidfile: written while still root, so /run/portico.pid works with --uid.
    if (runtime.pidfile) writePidfile(runtime.pidfile);
    giveLogFiles(logs, privileges);
    dropPrivileges(privileges, [runDir], log);
    // Gateway processes run as the user the workers run as.
    await front.start();
  } catch (err) {
    await front.stop(false);
    removeRunDir();
    if (runtime.pidfile) removePidfile(runtime.pidfile, log);
    throw err;
  }
  await runMaster(master, {
    readyLine: `portico master ${process.pid}: ${master.options.initialWorkers ?? master.processes} worker(s) of ${app} behind ${front.url}${gatewayProcesses >= 2 ? ` (${gatewayProcesses} gateway processes)` : ''}`,
    ...runtime,
    // The gateway's HTTP socket listens with Node's default backlog (its --listen is the queue of requests).
    sockets: () => [{ name: front.url, proto: 'http', backlog: 511 }],
    metricsSource: () => front.metrics(),
    gateways: () => front.stats(),
    onReopenLogs: () => front.reopenLogs(),
    // The gateway first: it stops accepting and waits for its in-flight requests, which the
    // workers are still there to finish.
    beforeStop: (graceful) => front.stop(graceful),
    afterStop: () => {
      front.close();
      removeRunDir();
    },
  });
  return 0;
}

/** The module a gateway process runs. */
const GATEWAY_CHILD = fileURLToPath(new URL('./gateway-child.js', import.meta.url));

/** --gateway-processes at most. */
const MAX_GATEWAY_PROCESSES = 64;

/** What the master drives of the gateway, in its own process or in gateway processes. */
interface Front {
  readonly url: string;
  readonly queueDepth: number;
  /** Takes the HTTP socket (before privileges drop). */
  bind(): Promise<void>;
  /** Accepts on it (after). */
  start(): Promise<void>;
  add(spec: string, slot: number): void;
  remove(spec: string, failCode?: ErrorCode, stuckSince?: number): void;
  setStalled(spec: string, stalled: boolean): void;
  metrics(): Promise<PromMetricJSON[][]>;
  /** The stats document's gateway processes (null: the gateway runs in the master's process). */
  stats(): GatewayStatsJson[] | null;
  /** After a chain reload of the workers (gateway processes are replaced too). */
  reload(): Promise<void>;
  reopenLogs(): void;
  stop(graceful: boolean): Promise<void>;
  close(): void;
}

/** Today's `portico serve`: the gateway in the master's process, binding and listening at once. */
function inMasterFront(gateway: GatewayServer): Front {
  return {
    get url() {
      return gateway.url;
    },
    get queueDepth() {
      return gateway.queueDepth;
    },
    bind: () => gateway.start(),
    start: async () => {},
    add: (spec) => gateway.addUpstream(spec),
    remove: (spec, failCode, stuckSince) => gateway.removeUpstream(spec, failCode, stuckSince),
    setStalled: (spec, stalled) => gateway.setUpstreamStalled(spec, stalled),
    metrics: async () => [gatewayMetricsJSON(gateway)],
    stats: () => null,
    reload: async () => {},
    reopenLogs: () => {},
    stop: () => gateway.stop(),
    close: () => {},
  };
}
