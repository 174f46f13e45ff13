import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PorticoError } from '../common/errors.js';

/**
 * portico from code: `serve()` and `worker()` start the same stacks as `portico serve` and
 * `portico worker`, in a child process (the master supervises its workers as it does from a
 * shell, and signals stay its own), and resolve once they accept, with a handle to stop them.
 * Options are the command line's (docs/options.md), by their names or in camelCase.
 */
export type OptionValue = string | number | boolean | string[] | undefined;

export interface CommonOptions {
  /** The app: path/to/module.{js,mjs,cjs}[:exportName]. */
  app: string;
  processes?: number;
  harakiri?: number;
  maxRequests?: number;
  reload?: boolean;
  stats?: string;
  logto?: string;
  logFormat?: 'text' | 'json';
  /** Any other option of the command, as on the command line. */
  [option: string]: OptionValue;
}

export interface ServeOptions extends CommonOptions {
  /** HOST:PORT or unix:PATH for the HTTP gateway. */
  http: string;
  /** `/prefix=DIR` mounts. */
  static?: string[];
}

export interface WorkerOptions extends CommonOptions {
  /** The uwsgi socket: PATH, unix:PATH or HOST:PORT. */
  socket: string;
}

export interface Stack {
  /** The master's (or the single worker's) pid. */
  readonly pid: number;
  /** Where it accepts: the gateway's http:// URL, or the uwsgi socket. */
  readonly address: string;
  /** Resolves with the exit code once the process has stopped, for whatever reason. */
  readonly exited: Promise<number | null>;
  /** A graceful stop (SIGTERM: in-flight requests finish); resolves with the exit code. */
  close(): Promise<number | null>;
}

const BIN = fileURLToPath(new URL('../../bin/portico.mjs', import.meta.url));

export function serve(options: ServeOptions): Promise<Stack> {
  const { app, ...rest } = options;
  return start(['serve', app, ...argvOf(rest)], /portico master \d+: \d+ worker\(s\) of .* behind (\S+)/);
}

export function worker(options: WorkerOptions): Promise<Stack> {
  const { app, ...rest } = options;
  const ready = rest.master === false ? /portico worker \d+: \w+ app .* on (\S+)/ : /portico master \d+: \d+ worker\(s\) of .* accepting on (\S+)/;
  return start(['worker', app, ...argvOf(rest)], ready);
}

function argvOf(options: Record<string, OptionValue>): string[] {
  const argv: string[] = [];
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    const name = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    if (typeof value === 'boolean') argv.push(value ? `--${name}` : `--no-${name}`);
    else for (const v of Array.isArray(value) ? value : [value]) argv.push(`--${name}`, String(v));
  }
  return argv;
}

/** Its output goes on to this process's stdout and stderr, as from a shell. */
function start(argv: string[], ready: RegExp): Promise<Stack> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = '';
    let settled = false;
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    const watch = (chunk: Buffer): void => {
      if (settled) return;
      seen += chunk.toString();
      const m = ready.exec(seen);
      if (!m) return;
      settled = true;
      seen = '';
      resolve({
        pid: child.pid!,
        address: m[1]!,
        exited,
        close() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          return exited;
        },
      });
    };
    child.stdout.on('data', (c: Buffer) => {
      process.stdout.write(c);
      watch(c);
    });
    child.stderr.on('data', (c: Buffer) => {
      process.stderr.write(c);
      watch(c);
    });
    void exited.then((code) => {
      if (settled) return;
      settled = true;
      const line = /PORTICO_ERR_\w+: [^\n]*/.exec(seen)?.[0];
      reject(new PorticoError('PORTICO_ERR_INVALID_OPTION', `portico ${argv[0]} exited (${String(code)}) before it accepted${line ? `: ${line}` : ''}`));
    });
  });
}
