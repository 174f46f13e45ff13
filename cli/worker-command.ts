import { otelSettings } from '../common/otel-config.js';
import { PorticoError } from '../common/errors.js';
import { loadCommandConfig } from '../config/config-resolve.js';
import { CONFIG_FOOTER, formatHelp, frontOptions, workerOptions, type OptionValues } from '../config/option-schema.js';
import { checkAppFile, KIND_RULES, type AppKind } from '../worker/app-file.js';
import { managedConfig } from '../worker/master-client.js';
import type { WorkerOptions } from '../worker/worker-server.js';
import { holdStopSignals, intOption, logFormatOption, secondsOption } from './cli-values.js';
import { logFilesOption } from './log-options.js';
import { listenAddressOption } from './option-checks.js';

const USAGE = `Usage: portico worker APP --socket PATH|HOST:PORT [options]
       portico worker APP --http-socket HOST:PORT|unix:PATH [options]

APP is path/to/module.{js,mjs,cjs}[:exportName].
${KIND_RULES}`;

export async function workerCommand(argv: string[]): Promise<number> {
  const { values } = loadCommandConfig('worker', argv);
  if (values.help) {
    process.stdout.write(formatHelp(USAGE, workerOptions, CONFIG_FOOTER));
    return 0;
  }
  const app = values.module;
  const managed = managedConfig();
  // Socket activation (a systemd .socket unit) hands over a listening socket: --socket is optional.
  // Never in a worker the master forked (LISTEN_PID is not its pid), which so loads no more of the
  // master's modules than it needs.
  const activated = !managed && (await import('../master/shared-socket.js')).listenFds() > 0;
  const http = values['http-socket'] as string | undefined;
  if (!app || (!values.socket && !http && !activated)) {
    process.stderr.write(`${USAGE}\n\nportico worker: APP and --socket (or --http-socket) are required\n`);
    return 2;
  }
  // Checked in the master too: a worker it forks must not find a bad one.
  frontOptionChecks(values, http);
  const socket = http ?? values.socket;
  // A worker process (under a master or alone) holds a SIGTERM that comes while it starts; the
  // master has signal handling of its own.
  if (managed || !values.master) holdStopSignals();
  // The master checked everything before it forked this process.
  if (managed) return (await import('./worker-run.js')).runManagedWorker(app, socket!, values, managed);
  // Before anything is bound: a bad value is one line and a non-zero exit, nothing left behind.
  if (socket !== undefined) listenAddressOption(http ? 'http-socket' : 'socket', socket, { unix: true });
  logFilesOption(values);
  checkAppFile(app);
  // The master's modules are loaded only here: every worker process it forks runs this file too.
  if (values.master) return (await import('./worker-master.js')).runWorkerMaster(app, socket, values);
  // The worker's modules are loaded only in a worker process, never in the master.
  return (await import('./worker-run.js')).runAloneWorker(app, socket, values, activated);
}

/**
 * --http-socket takes the place of --socket, and the HTTP front's options (--static, the limits)
 * mean something only with it: a uwsgi socket's front is nginx.
 */
function frontOptionChecks(values: OptionValues, http: string | undefined): void {
  if (http !== undefined) {
    if (values.socket !== undefined) throw new PorticoError('PORTICO_ERR_INVALID_OPTION', '--http-socket and --socket are two ways to serve: give one (HTTP for clients, uwsgi for nginx)');
    for (const [name, off] of [
      ['cheap', false],
      ['accept-busy', '0'],
    ] as const) {
      if (values[name] !== undefined && values[name] !== off) throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--${name} works with --socket only, not with --http-socket`);
    }
    return;
  }
  for (const name of Object.keys(frontOptions)) {
    const v = values[name];
    if (v !== undefined && v !== frontOptions[name]!.default && !(Array.isArray(v) && v.length === 0)) {
      throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--${name} is a setting of the HTTP front: give --http-socket too, or set it in nginx in front of --socket`);
    }
  }
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
    acceptBusy: intOption('accept-busy', values['accept-busy'], 0, 1_000_000),
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
