import { parseArgs } from 'node:util';
import { PorticoError } from '../common/errors.js';
import { formatHelp, workerOptions, type OptionValues } from '../common/option-schema.js';
import { KIND_RULES, type AppKind } from '../worker/app-loader.js';
import { WorkerServer, type WorkerOptions } from '../worker/worker-server.js';
import { intOption, logFormatOption, waitForStopSignals } from './cli-values.js';

const USAGE = `Usage: portico worker APP --socket PATH|HOST:PORT [options]

APP is path/to/module.{js,mjs,cjs}[:exportName].
${KIND_RULES}`;

export async function workerCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: workerOptions, allowPositionals: true, allowNegative: true });
  if (values.help) {
    process.stdout.write(formatHelp(USAGE, workerOptions));
    return 0;
  }
  const app = positionals[0];
  if (!app || !values.socket) {
    process.stderr.write(`${USAGE}\n\nportico worker: APP and --socket are required\n`);
    return 2;
  }
  const worker = new WorkerServer(workerOptionsFrom(app, values.socket, values));
  await worker.start();
  // Started by `portico serve`: tell it we accept, and stop with it if it goes away.
  if (process.send) {
    process.send({ type: 'portico:ready', socket: values.socket });
    process.on('disconnect', () => void worker.stop(true).then(() => process.exit(0)));
  }
  await waitForStopSignals(worker.log, (graceful) => worker.stop(graceful), () => worker.inFlight);
  return 0;
}

export function workerOptionsFrom(app: string, socket: string, values: OptionValues): WorkerOptions {
  const kind = values.kind as string | undefined;
  if (kind !== undefined && kind !== 'fetch' && kind !== 'wsgi' && kind !== 'node') {
    throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--kind must be fetch, wsgi or node, got ${kind}`);
  }
  const chmod = values['chmod-socket'] as string | undefined;
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
    disableLogging: values['disable-logging'] as boolean | undefined,
    logFormat: logFormatOption(values['log-format']),
    logto: values.logto as string | undefined,
    lightResponse: !values['native-response'],
  };
}

/** Octal as uWSGI takes it: 666, 0666 or 0o666. */
function modeOption(value: string): number {
  const digits = value.replace(/^0o?/, '');
  if (!/^[0-7]{1,4}$/.test(digits)) throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--chmod-socket must be an octal mode like 666, got ${value}`);
  return parseInt(digits, 8);
}
