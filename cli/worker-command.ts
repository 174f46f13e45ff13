import { otelSettings } from '../common/otel-config.js';
import { Socket } from 'node:net';
import { defaults } from '../common/defaults.js';
import { PorticoError } from '../common/errors.js';
import { Logger } from '../common/logger.js';
import { loadCommandConfig } from '../common/config-resolve.js';
import { CONFIG_FOOTER, formatHelp, toArgv, workerOptions, workerOptionsBase, type OptionValues } from '../common/option-schema.js';
import { formatSocketAddress, parseSocketAddress } from '../protocol/socket-address.js';
import { checkAppFile, KIND_RULES, type AppKind } from '../worker/app-loader.js';
import { announceReady, createScoreboard, managedConfig, reportModuleGraph, takeUpgrades, type ManagedWorkerConfig } from '../worker/master-client.js';
import { CheapListener, HANDOVER } from '../worker/master/cheap-listener.js';
import { Master } from '../worker/master/master.js';
import { runMaster } from '../worker/master/master-runtime.js';
import { removePidfile, writePidfile } from '../worker/master/pidfile.js';
import { bindSharedSocket, inheritedSocket, listenFds } from '../worker/master/shared-socket.js';
import { backlogWarning, othersCanConnect } from '../worker/socket-listener.js';
import { WorkerServer, type WorkerOptions } from '../worker/worker-server.js';
import { holdStopSignals, intOption, logFormatOption, waitForStopSignals } from './cli-values.js';
import { dropPrivileges, MAIN, masterGuards, privilegeOptions, runtimeOptions, secondsOption } from './master-values.js';
import { giveLogFiles, logFilesOption } from './log-options.js';
import { listenAddressOption } from './option-checks.js';

const USAGE = `Usage: portico worker APP --socket PATH|HOST:PORT [options]

APP is path/to/module.{js,mjs,cjs}[:exportName].
${KIND_RULES}`;

export async function workerCommand(argv: string[]): Promise<number> {
  const { values } = loadCommandConfig('worker', argv);
  if (values.help) {
    process.stdout.write(formatHelp(USAGE, workerOptions, CONFIG_FOOTER));
    return 0;
  }
  const app = values.module;
  // Socket activation (a systemd .socket unit) hands over a listening socket: --socket is optional.
  const activated = listenFds() > 0;
  if (!app || (!values.socket && !activated)) {
    process.stderr.write(`${USAGE}\n\nportico worker: APP and --socket are required\n`);
    return 2;
  }
  const managed = managedConfig();
  // A worker process (under a master or alone) holds a SIGTERM that comes while it starts; the
  // master has signal handling of its own.
  if (managed || !values.master) holdStopSignals();
  // The master checked everything before it forked this process.
  if (managed) return runManagedWorker(app, values.socket!, values, managed);
  // Before anything is bound: a bad value is one line and a non-zero exit, nothing left behind.
  if (values.socket !== undefined) listenAddressOption('socket', values.socket, { unix: true });
  const logs = logFilesOption(values);
  checkAppFile(app);
  if (values.master) return runWorkerMaster(app, values.socket, values);
  const privileges = privilegeOptions(values);
  const opts = workerOptionsFrom(app, values.socket ?? '', values);
  const inherited = activated ? inheritedSocket(values.socket ? parseSocketAddress(values.socket) : undefined) : null;
  let worker: WorkerServer;
  if (inherited) {
    worker = new WorkerServer({ ...opts, socket: formatSocketAddress(inherited.address), listenFd: inherited.fd, vacuum: false });
    giveLogFiles(logs, privileges);
    dropPrivileges(privileges, [], worker.log);
  } else if (process.getuid?.() === 0 && (privileges.user || privileges.gid !== undefined)) {
    // --uid without the master: bound as root (/run, a port below 1024), privileges dropped, and
    // only then the app imported and the socket listened on, as the master does for its workers.
    const bound = await bindSharedSocket(parseSocketAddress(values.socket!), opts.chmodSocket, opts.listen ?? defaults.listen);
    const log = new Logger({ format: opts.logFormat, file: opts.logto, requestFile: opts.requestLogto });
    try {
      giveLogFiles(logs, privileges);
      dropPrivileges(privileges, bound.address.kind === 'unix' ? [bound.address.path] : [], log);
    } catch (err) {
      bound.close(true);
      throw err;
    }
    worker = new WorkerServer({ ...opts, listenFd: bound.fd, logger: log });
  } else {
    worker = new WorkerServer(opts);
    giveLogFiles(logs, privileges);
    dropPrivileges(privileges, [], worker.log);
  }
  await worker.start();
  process.on('SIGUSR1', () => worker.log.reopen());
  await waitForStopSignals(worker.log, (graceful) => worker.stop(graceful), () => worker.inFlight);
  return 0;
}

/** A worker process the master started: the shared socket (or its own), a scoreboard, a watchdog. */
async function runManagedWorker(app: string, socket: string, values: OptionValues, managed: ManagedWorkerConfig): Promise<number> {
  const shared = managed.listenFd !== null;
  const worker = new WorkerServer({
    ...workerOptionsFrom(app, socket, values),
    listenFd: managed.listenFd ?? undefined,
    // The shared socket's file belongs to the master, which outlives this process.
    vacuum: shared ? false : (values.vacuum as boolean | undefined),
    scoreboard: createScoreboard(managed),
  });
  const reportRequired = reportModuleGraph(managed);
  await worker.start();
  reportRequired();
  // --cheap: connections the master accepted before (or besides) us.
  process.on('message', (m: { type?: string }, handle: unknown) => {
    if (m?.type === HANDOVER && handle instanceof Socket) worker.adopt(handle);
  });
  takeUpgrades(managed, worker);
  announceReady(managed, worker);
  process.on('SIGUSR1', () => worker.log.reopen());
  await waitForStopSignals(worker.log, (graceful) => worker.stop(graceful), () => worker.inFlight);
  return 0;
}

/** `portico worker` with the master (the default): one socket, --processes workers on it. */
async function runWorkerMaster(app: string, socket: string | undefined, values: OptionValues): Promise<number> {
  const opts = workerOptionsFrom(app, socket ?? '', values);
  const logs = logFilesOption(values);
  const log = new Logger({ format: opts.logFormat, file: logs.main, requestFile: logs.requests });
  // Under socket activation systemd bound the socket (owner, mode, path are the .socket unit's).
  const activated = listenFds() > 0;
  // Every option is checked (a bad --cron spec, --cheaper above --processes) before the socket is bound.
  const guards = masterGuards(values);
  const runtime = runtimeOptions(values);
  const privileges = privilegeOptions(values);
  const shared = activated ? inheritedSocket(socket ? parseSocketAddress(socket) : undefined) : await bindSharedSocket(parseSocketAddress(socket!), opts.chmodSocket, opts.listen ?? defaults.listen);
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
    workerArgv: ['worker', app, '--socket', label, ...toArgv(values, workerOptionsBase)],
    shared,
    runDir: null,
    log,
    workerOutputToLog: logs.main !== undefined,
    onReady: (w) => cheap?.workerReady(w),
    waiting: () => cheap?.waiting ?? 0,
  });
  if (values.cheap) {
    cheap = new CheapListener(master);
    await cheap.listen(shared.fd, opts.listen ?? defaults.listen);
  }
  const backlog = backlogWarning(opts.listen ?? defaults.listen);
  if (backlog) log.warn(backlog);
  log.info(`portico master ${process.pid}: starting ${master.processes} worker(s) on ${label}`);
  if (!activated && shared.address.kind === 'unix' && !othersCanConnect(opts.chmodSocket)) {
    log.info(`note: nginx connects as its own user (www-data on Debian); if it logs "connect() to unix:${label} failed ` +
      '(13: Permission denied)", start portico with --chmod-socket 666 (or 660 and a group nginx is in)');
  }
  await runMaster(master, {
    ...runtime,
    sockets: () => [{ name: label, proto: 'uwsgi', backlog: opts.listen ?? defaults.listen }],
    afterStop: () => shared.close(vacuum),
    readyLine: `portico master ${process.pid}: ${master.options.initialWorkers ?? master.processes} worker(s) of ${app} accepting on ${label}`,
  });
  return 0;
}

export function workerOptionsFrom(app: string, socket: string, values: OptionValues): WorkerOptions {
  const kind = values.kind as string | undefined;
  if (kind !== undefined && kind !== 'fetch' && kind !== 'wsgi' && kind !== 'node') {
    throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--kind must be fetch, wsgi or node, got ${kind}`);
  }
  const chmod = values['chmod-socket'] as string | undefined;
  const logs = logFilesOption(values);
  return {
    app,
    socket,
    kind: kind as AppKind | undefined,
    bufferSize: intOption('buffer-size', values['buffer-size']),
    listen: intOption('listen', values.listen),
    chmodSocket: chmod === undefined ? undefined : modeOption(chmod),
    allowFrom: values['allow-from'] as string[] | undefined,
    vacuum: values.vacuum as boolean | undefined,
    gracefulTimeout: intOption('graceful-timeout', values['graceful-timeout']),
    chunkedInputTimeout: chunkedInputTimeout(values['chunked-input-timeout']),
    disableLogging: values['disable-logging'] as boolean | undefined,
    logFormat: logFormatOption(values['log-format']),
    logto: logs.main,
    requestLogto: logs.requests,
    lightResponse: !values['native-response'],
    otel: otelSettings(values.otel as boolean | undefined),
  };
}

/** Checked here, not only in the worker: under the master a bad value would kill every worker it starts. */
function chunkedInputTimeout(value: unknown): number | undefined {
  const seconds = secondsOption('chunked-input-timeout', value);
  if (seconds !== undefined && (seconds <= 0 || seconds > 86_400)) {
    throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--chunked-input-timeout must be more than 0 and at most 86400 seconds, got ${seconds}`);
  }
  return seconds;
}

/** Octal as uWSGI takes it: 666, 0666 or 0o666. */
function modeOption(value: string): number {
  const digits = value.replace(/^0o?/, '');
  // Permission bits only: setuid, setgid and sticky mean nothing on a socket.
  if (!/^[0-7]{1,3}$/.test(digits)) throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--chmod-socket must be an octal mode up to 777 like 666 or 660, got ${value}`);
  return parseInt(digits, 8);
}
