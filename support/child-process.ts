import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';

export interface Started {
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves when the output matches; rejects if the process exits first. */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts a long-running program and lets a test await lines of its output instead of sleeping. */
export function startProcess(cmd: string, args: string[], options: SpawnOptions = {}): Started {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let out = '';
  const waiters: Array<{ re: RegExp; resolve(m: RegExpMatchArray): void; reject(e: Error): void }> = [];
  const check = (): void => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const m = out.match(waiters[i]!.re);
      if (m) {
        waiters[i]!.resolve(m);
        waiters.splice(i, 1);
      }
    }
  };
  const onData = (d: Buffer): void => {
    out += d.toString();
    check();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  let exitCode: number | null | undefined;
  const exited = once(child, 'exit').then(([code]) => {
    exitCode = code as number | null;
    for (const w of waiters.splice(0)) w.reject(new Error(`${cmd} exited (${String(code)}) before ${w.re}; output:\n${out}`));
    return exitCode;
  });
  return {
    child,
    output: () => out,
    waitFor(re) {
      const m = out.match(re);
      if (m) return Promise.resolve(m);
      if (exitCode !== undefined) return Promise.reject(new Error(`${cmd} already exited; output:\n${out}`));
      return new Promise((resolve, reject) => waiters.push({ re, resolve, reject }));
    },
    async stop(signal = 'SIGTERM') {
      if (exitCode === undefined) child.kill(signal);
      return exited;
    },
  };
}

/** Resolves with the first match of `re` in the process's output; fails with the output after `ms`. */
export async function outputLine(proc: Started, re: RegExp, ms = 15_000): Promise<RegExpMatchArray> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no output matching ${re} within ${ms} ms; output so far:\n${proc.output()}`)), ms);
  });
  try {
    return await Promise.race([proc.waitFor(re), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * startProcess with the soft limit of open files raised to the hard one (through sh's ulimit):
 * for a process that holds thousands of connections, past the usual soft limit of 1024.
 */
export function startWithHardFdLimit(cmd: string, args: string[], options: SpawnOptions = {}): Started {
  return startProcess('sh', ['-c', 'ulimit -n "$(ulimit -Hn)" && exec "$0" "$@"', cmd, ...args], options);
}
