import { connect } from 'node:net';
import { join } from 'node:path';
import { startProcess, type Started } from '../support/child-process.js';
import { startNginx, type Nginx } from '../support/nginx.js';
import { porticoBin, repoRoot } from '../support/paths.js';
import { track } from './cleanup.js';

export type BackendId = 'portico' | 'uwsgi' | 'bare';

export interface BackendSpec {
  id: BackendId;
  label: string;
  cmd: string;
  args: string[];
  /** The unix socket it serves; it is ready once a connect() there succeeds. */
  socket: string;
  /** uWSGI's master reloads on SIGTERM unless told otherwise; SIGINT always stops it. */
  stopSignal: NodeJS.Signals;
  /** Last resort if it does not stop: a signal that also takes any child processes with it. */
  killSignal: NodeJS.Signals;
}

export interface RunningBackend {
  spec: BackendSpec;
  socket: string;
  proc: Started;
  nginx: Nginx;
}

export const UWSGI = '/usr/bin/uwsgi';

/** `nodeFlags` go before the script of both Node backends, e.g. --cpu-prof to profile them under load. */
export function backendSpecs(dir: string, nodeFlags: readonly string[] = []): BackendSpec[] {
  const sock = (id: string): string => join(dir, `${id}.sock`);
  return [
    {
      id: 'portico',
      label: 'portico worker (fetch app)',
      cmd: process.execPath,
      // A master and one worker, as uWSGI runs below; BENCH_PORTICO_FLAGS adds flags (e.g. --no-master).
      args: [
        ...nodeFlags,
        porticoBin,
        'worker',
        join(repoRoot, 'examples', 'hello.mjs'),
        '--socket',
        sock('portico'),
        '--processes',
        '1',
        '--chmod-socket',
        '666',
        '--disable-logging',
        ...porticoFlags(),
      ],
      socket: sock('portico'),
      stopSignal: 'SIGTERM',
      killSignal: 'SIGKILL',
    },
    {
      id: 'uwsgi',
      label: 'uWSGI 2.0 + python3 WSGI',
      cmd: UWSGI,
      args: [
        '--plugin',
        'python3',
        '--socket',
        sock('uwsgi'),
        '--chmod-socket=666',
        '--wsgi-file',
        join(repoRoot, 'bench', 'hello.py'),
        '--need-app',
        '--master',
        '--processes',
        '1',
        '--disable-logging',
        '--die-on-term',
      ],
      socket: sock('uwsgi'),
      stopSignal: 'SIGINT',
      // SIGKILL would orphan the worker; a second SIGINT makes the master kill it at once.
      killSignal: 'SIGINT',
    },
    {
      id: 'bare',
      label: 'bare Node uwsgi responder',
      cmd: process.execPath,
      args: [...nodeFlags, join(import.meta.dirname, 'bare-responder.js'), sock('bare')],
      socket: sock('bare'),
      stopSignal: 'SIGTERM',
      killSignal: 'SIGKILL',
    },
  ];
}

function porticoFlags(): string[] {
  return (process.env.BENCH_PORTICO_FLAGS ?? '').split(/\s+/).filter(Boolean);
}

/** The command as one could paste it into a shell. */
export function commandLine(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map(shellQuote).join(' ');
}

export function shellQuote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

function canConnect(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/**
 * Polls the socket rather than waiting for a log line: what a backend prints at startup (and
 * whether it is flushed before exit) is not the bench's business, accepting connections is.
 */
async function waitForSocket(path: string, proc: Started, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) throw new Error('exited before accepting');
    if (await canConnect(path)) return;
    if (Date.now() > deadline) throw new Error(`not accepting on ${path} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts the backend and an nginx (worker_processes 1) in front of it, and checks one request. */
export async function startBackend(spec: BackendSpec, dir: string): Promise<RunningBackend> {
  const socket = spec.socket;
  const proc = startProcess(spec.cmd, spec.args, { cwd: repoRoot });
  track(spec.id, proc.child, () => proc.stop(spec.stopSignal), spec.killSignal);
  try {
    await waitForSocket(socket, proc, 15_000);
  } catch (err) {
    throw new Error(`${spec.id} did not start: ${(err as Error).message}\noutput:\n${proc.output()}`);
  }
  const ngDir = join(dir, spec.id);
  const nginx = await startNginx(ngDir, socket);
  // SIGTERM is nginx's fast shutdown: the master takes its worker with it.
  track(`nginx for ${spec.id}`, nginx.proc.child, () => nginx.stop(), 'SIGTERM');
  await checkHello(spec.id, nginx.url);
  return { spec, socket, proc, nginx };
}

async function checkHello(id: string, url: string): Promise<void> {
  const res = await fetch(`${url}/`);
  const body = await res.text();
  if (res.status !== 200 || body !== 'Hello World') {
    throw new Error(`${id}: GET / through nginx gave ${res.status} ${JSON.stringify(body.slice(0, 200))}, not 200 "Hello World"`);
  }
}
