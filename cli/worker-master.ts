import { defaults } from '../config/defaults.js';
import { Logger } from '../common/logger.js';
import { frontOptions, toArgv, workerOptionsBase, type OptionValues } from '../config/option-schema.js';
import { formatSocketAddress, parseSocketAddress } from '../protocol/socket-address.js';
import { CheapListener } from '../master/cheap-listener.js';
import { Master } from '../master/master.js';
import { runMaster } from '../master/master-runtime.js';
import { removePidfile, writePidfile } from '../master/pidfile.js';
import { bindSharedSocket, inheritedSocket, listenFds } from '../master/shared-socket.js';
import { backlogWarning, othersCanConnect } from '../worker/socket-listener.js';
import { dropPrivileges, MAIN, masterGuards, runtimeOptions } from './master-values.js';
import { giveLogFiles, logFilesOption } from './log-options.js';
import { privilegeOptions } from './option-checks.js';
import { workerOptionsFrom } from './worker-command.js';

/** `portico worker` with the master (the default): one socket (uwsgi, or HTTP with --http-socket), --processes workers on it. */
export async function runWorkerMaster(app: string, socket: string | undefined, values: OptionValues): Promise<number> {
  const http = values['http-socket'] !== undefined;
  const opts = workerOptionsFrom(app, socket ?? '', values);
  const logs = logFilesOption(values);
  const backlog = opts.listen ?? defaults.listen;
  const log = new Logger({ format: opts.logFormat, file: logs.main, requestFile: logs.requests });
  // Under socket activation systemd bound the socket (owner, mode, path are the .socket unit's).
  const activated = listenFds() > 0;
  // Every option is checked (a bad --cron spec, --cheaper above --processes) before the socket is bound.
  const guards = masterGuards(values);
  const runtime = runtimeOptions(values);
  const privileges = privilegeOptions(values);
  const shared = activated ? inheritedSocket(socket ? parseSocketAddress(socket) : undefined) : await bindSharedSocket(parseSocketAddress(socket!), opts.chmodSocket, backlog);
  const label = formatSocketAddress(shared.address);
  const vacuum = opts.vacuum !== false;
  if (activated) log.info(`socket activation: using ${label} from fd ${shared.fd}${socket && socket !== label ? ` (--socket ${socket} ignored)` : ''}`);
  try {
    // uWSGI's pidfile: written while still root, so /run/portico.pid works with --uid.
    if (runtime.pidfile) writePidfile(runtime.pidfile);
    giveLogFiles(logs, privileges);
    dropPrivileges(privileges, shared.address.kind === 'unix' && !activated ? [shared.address.path] : [], log);
  } catch (err) {
    shared.close(vacuum);
    if (runtime.pidfile) removePidfile(runtime.pidfile, log);
    throw err;
  }
  let cheap: CheapListener | null = null;
  const master = new Master({
    ...guards,
    main: MAIN,
    workerArgv: ['worker', app, http ? '--http-socket' : '--socket', label, ...toArgv(values, workerOptionsBase), ...(http ? toArgv(values, frontOptions) : [])],
    shared,
    runDir: null,
    log,
    workerOutputToLog: logs.main !== undefined,
    onReady: (w) => cheap?.workerReady(w),
    waiting: () => cheap?.waiting ?? 0,
  });
  if (values.cheap) {
    cheap = new CheapListener(master);
    await cheap.listen(shared.fd, backlog);
  }
  const warning = backlogWarning(backlog);
  if (warning) log.warn(warning);
  log.info(`portico master ${process.pid}: starting ${master.processes} worker(s) on ${label}`);
  if (!http && !activated && shared.address.kind === 'unix' && !othersCanConnect(opts.chmodSocket)) {
    log.info(
      `note: nginx connects as its own user (www-data on Debian); if it logs "connect() to unix:${label} failed ` +
        '(13: Permission denied)", start portico with --chmod-socket 666 (or 660 and a group nginx is in)',
    );
  }
  await runMaster(master, {
    ...runtime,
    sockets: () => [{ name: label, proto: http ? 'http' : 'uwsgi', backlog }],
    afterStop: () => shared.close(vacuum),
    readyLine: `portico master ${process.pid}: ${master.options.initialWorkers ?? master.processes} worker(s) of ${app} accepting on ${label}`,
  });
  return 0;
}
