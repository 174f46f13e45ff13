import type { ChildProcess } from 'node:child_process';

interface Entry {
  name: string;
  /** Orderly stop, awaited by runCleanup(). */
  stop: () => Promise<unknown>;
  /** Last resort at process exit: must be synchronous. */
  kill: () => void;
}

const entries: Entry[] = [];
let running: Promise<void> | null = null;
let signalled: NodeJS.Signals | null = null;

/** The signal that stopped the bench, if one did: its in-flight wrk failing is then no error. */
export function interruptedBy(): NodeJS.Signals | null {
  return signalled;
}

/** Registers a child to stop at the end of the bench, whatever way it ends. */
export function track(name: string, child: ChildProcess, stop: () => Promise<unknown>, exitSignal: NodeJS.Signals = 'SIGTERM'): void {
  entries.push({
    name,
    stop,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill(exitSignal);
    },
  });
}

/** Registers something that is not a long-running child (wrk, a temp dir). */
export function trackFn(name: string, stop: () => Promise<unknown>, kill: () => void): void {
  entries.push({ name, stop, kill });
}

/** Stops everything registered, newest first; each stop gets `timeoutMs` before its kill. */
export function runCleanup(timeoutMs = 5000): Promise<void> {
  running ??= (async () => {
    while (entries.length > 0) {
      const e = entries.pop()!;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
      try {
        const r = await Promise.race([e.stop().then(() => 'ok' as const), timeout]);
        if (r === 'timeout') {
          process.stderr.write(`cleanup: ${e.name} did not stop in ${timeoutMs} ms, killing it\n`);
          e.kill();
        }
      } catch (err) {
        process.stderr.write(`cleanup: ${e.name}: ${(err as Error).message}\n`);
        e.kill();
      } finally {
        clearTimeout(timer);
      }
    }
  })();
  return running;
}

/** Ctrl-C, SIGTERM or a crash: stop the children before going away. */
export function installExitHandlers(): void {
  const onSignal = (sig: NodeJS.Signals): void => {
    signalled = sig;
    process.stderr.write(`\n${sig}: stopping backends and nginx\n`);
    void runCleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.on('exit', () => {
    for (const e of entries.splice(0)) {
      try {
        e.kill();
      } catch {
        // already gone
      }
    }
  });
}

/**
 * Runs a suite's main and exits: 0, or what main returned; 130 when interrupted; 1 on an error.
 * Every child is stopped first, whatever happened.
 */
export async function runBench(main: () => Promise<number | void>): Promise<never> {
  let code = 0;
  try {
    code = (await main()) ?? 0;
  } catch (err) {
    if (interruptedBy()) {
      code = 130;
    } else {
      console.error(`bench failed: ${(err as Error).stack ?? String(err)}`);
      code = 1;
    }
  } finally {
    await runCleanup();
  }
  process.exit(code);
}
