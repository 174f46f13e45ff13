import { parseArgs } from 'node:util';
import { PorticoError } from '../common/errors.js';
import { formatHelp, workerOptions } from '../common/option-schema.js';
import { KIND_RULES, type AppKind } from '../worker/app-loader.js';
import { WorkerServer } from '../worker/worker-server.js';

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
  const kind = values.kind;
  if (kind !== undefined && kind !== 'fetch' && kind !== 'wsgi' && kind !== 'node') {
    throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--kind must be fetch, wsgi or node, got ${kind}`);
  }
  const logFormat = values['log-format'];
  if (logFormat !== 'text' && logFormat !== 'json') {
    throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--log-format must be text or json, got ${logFormat}`);
  }
  const worker = new WorkerServer({
    app,
    socket: values.socket,
    kind: kind as AppKind | undefined,
    bufferSize: intOption('buffer-size', values['buffer-size']),
    listen: intOption('listen', values.listen),
    chmodSocket: values['chmod-socket'] === undefined ? undefined : modeOption(values['chmod-socket']),
    allowFrom: values['allow-from'],
    vacuum: values.vacuum,
    gracefulTimeout: Number(values['graceful-timeout']),
    disableLogging: values['disable-logging'],
    logFormat,
    logto: values.logto,
    lightResponse: !values['native-response'],
  });
  await worker.start();
  return new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals): void => {
      signals++;
      if (signals > 1) {
        worker.log.info(`${sig} again: stopping now`);
        void worker.stop(false).then(() => resolve(0));
        return;
      }
      worker.log.info(`${sig}: graceful stop (${worker.inFlight} in flight)`);
      void worker.stop(true).then(() => resolve(0));
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

function intOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--${name} must be a whole number, got ${value}`);
  return Number(value);
}

/** Octal as uWSGI takes it: 666, 0666 or 0o666. */
function modeOption(value: string): number {
  const digits = value.replace(/^0o?/, '');
  if (!/^[0-7]{1,4}$/.test(digits)) throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--chmod-socket must be an octal mode like 666, got ${value}`);
  return parseInt(digits, 8);
}
