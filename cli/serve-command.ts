import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PorticoError } from '../common/errors.js';
import { formatHelp, serveOptions, toArgv, workerOptionsBase } from '../common/option-schema.js';
import { GatewayServer } from '../gateway/gateway-server.js';
import { KIND_RULES } from '../worker/app-loader.js';
import { intOption, waitForStopSignals } from './cli-values.js';
import { gatewayOptionsFrom } from './gateway-command.js';

const USAGE = `Usage: portico serve APP --http HOST:PORT [--workers N] [--link native|uwsgi] [--static /prefix=DIR]... [worker options]

The whole stack in one command: N workers on unix sockets in a private runtime directory and the
gateway in front. APP is path/to/module.{js,mjs,cjs}[:exportName].
${KIND_RULES}`;

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

export async function serveCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: serveOptions, allowPositionals: true, allowNegative: true });
  if (values.help) {
    process.stdout.write(formatHelp(USAGE, serveOptions));
    return 0;
  }
  const app = positionals[0];
  if (!app || !values.http) {
    process.stderr.write(`${USAGE}\n\nportico serve: APP and --http are required\n`);
    return 2;
  }
  const link = values.link;
  if (link !== 'native' && link !== 'uwsgi') throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--link must be native or uwsgi, not ${JSON.stringify(link)}`);
  const count = intOption('workers', values.workers) ?? 1;
  if (count < 1) throw new PorticoError('PORTICO_ERR_INVALID_OPTION', '--workers must be at least 1');
  const runDir = mkdtempSync(join(tmpdir(), 'portico-'));
  const workerArgs = toArgv(values, workerOptionsBase);
  const sockets = Array.from({ length: count }, (_, i) => join(runDir, `worker-${i + 1}.sock`));
  const children: ChildProcess[] = [];
  const stopWorkers = async (): Promise<void> => {
    await Promise.all(children.map(async (c) => {
      if (c.exitCode !== null || c.signalCode !== null) return;
      const exited = once(c, 'exit');
      c.kill('SIGTERM');
      await exited;
    }));
    rmSync(runDir, { recursive: true, force: true });
  };
  try {
    await Promise.all(sockets.map(async (socket) => {
      const child = fork(MAIN, ['worker', app, '--socket', socket, ...workerArgs], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      children.push(child);
      await workerReady(child, socket);
    }));
  } catch (err) {
    await stopWorkers();
    throw err;
  }
  const gateway = new GatewayServer(gatewayOptionsFrom(values.http, sockets.map((s) => `${link === 'native' ? 'portico' : 'uwsgi'}://unix:${s}`), values));
  await gateway.start();
  await waitForStopSignals(gateway.log, async () => {
    await gateway.stop();
    await stopWorkers();
  }, () => 0);
  return 0;
}

function workerReady(child: ChildProcess, socket: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null): void => {
      reject(new PorticoError('PORTICO_ERR_APP_LOAD', `the worker for ${socket} exited (${String(code)}) before it was ready`));
    };
    child.once('exit', onExit);
    child.on('message', (msg: { type?: string }) => {
      if (msg?.type !== 'portico:ready') return;
      child.off('exit', onExit);
      resolve();
    });
  });
}
