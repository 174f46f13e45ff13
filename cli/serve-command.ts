import { rmSync } from 'node:fs';
import { PorticoError } from '../common/errors.js';
import { Logger } from '../common/logger.js';
import { loadCommandConfig } from '../config/config-resolve.js';
import { CONFIG_FOOTER, formatHelp, serveOptions, toArgv, workerOptionsBase } from '../config/option-schema.js';
import { gatewayMetricsJSON } from '../common/request-metrics.js';
import { GatewayServer } from '../gateway/gateway-server.js';
import { checkAppFile, KIND_RULES } from '../worker/app-file.js';
import { Master } from '../master/master.js';
import { runMaster } from '../master/master-runtime.js';
import { removePidfile, writePidfile } from '../master/pidfile.js';
import { makeRunDir } from '../master/run-dir.js';
import { takeActivatedFd } from '../master/shared-socket.js';
import { UpgradeHandover } from '../master/upgrade-handover.js';
import type { WorkerProcess } from '../master/worker-process.js';
import { logFormatOption } from './cli-values.js';
import { gatewayOptionsFrom } from './gateway-command.js';
import { dropPrivileges, MAIN, masterGuards, privilegeOptions, runtimeOptions } from './master-values.js';
import { giveLogFiles, logFilesOption } from './log-options.js';
import { listenAddressOption } from './option-checks.js';

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
  const log = new Logger({ format: logFormatOption(values['log-format']), file: logs.main, requestFile: logs.requests });
  const runDir = makeRunDir(log);
  // Upgraded connections go to the workers themselves: the gateway is out of their data path.
  const upgrades = new UpgradeHandover();
  const removeRunDir = (): void => rmSync(runDir, { recursive: true, force: true });
  // The gateway binds first (a port below 1024 needs root), then privileges drop, then the
  // workers start; requests that arrive meanwhile wait in the --listen queue for the first one.
  const gateway = new GatewayServer({ ...gatewayOptions, listenFd: httpFd ?? undefined, logger: log, dynamicUpstreams: true,
    // Each worker has a socket of its own: one version 2 link to it carries all its requests.
    upstreamLinks: 1,
    onNoUpstream: () => master.demand(), metrics: values.metrics !== undefined,
    // The workers log what they answer; the gateway what it answers itself.
    accessLog: values['disable-logging'] === true ? false : 'own',
    upgradeHandOff: upgrades });
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
    waiting: () => gateway.queueDepth,
    onReady: (w) => {
      upgrades.add(upstream(w), w);
      gateway.addUpstream(upstream(w));
    },
    onLeaving: (w, reason) => {
      upgrades.remove(upstream(w));
      gateway.removeUpstream(upstream(w), reason === 'harakiri' ? 'PORTICO_ERR_HARAKIRI' : undefined, w.stuckSince ?? undefined);
    },
    onBlocked: (w, blocked) => gateway.setUpstreamStalled(upstream(w), blocked),
  });
  try {
    await gateway.start();
    // uWSGI's pidfile: written while still root, so /run/portico.pid works with --uid.
    if (runtime.pidfile) writePidfile(runtime.pidfile);
    giveLogFiles(logs, privileges);
    dropPrivileges(privileges, [runDir], log);
  } catch (err) {
    await gateway.stop();
    removeRunDir();
    if (runtime.pidfile) removePidfile(runtime.pidfile, log);
    throw err;
  }
  await runMaster(master, {
    readyLine: `portico master ${process.pid}: ${master.options.initialWorkers ?? master.processes} worker(s) of ${app} behind ${gateway.url}`,
    ...runtime,
    // The gateway's HTTP socket listens with Node's default backlog (its --listen is the queue of requests).
    sockets: () => [{ name: gateway.url, proto: 'http', backlog: 511 }],
    metricsSource: () => gatewayMetricsJSON(gateway),
    // The gateway first: it stops accepting and waits for its in-flight requests, which the
    // workers are still there to finish.
    beforeStop: () => gateway.stop(),
    afterStop: removeRunDir,
  });
  return 0;
}
