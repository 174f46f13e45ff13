import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eachLine } from '../common/stream-lines.js';
import type { CronLog } from './cron-scheduler.js';
import type { CronTask } from './cron-spec.js';

/** The entry a --cron-app child runs: imports the module, awaits the export, reports back. */
const CHILD = fileURLToPath(new URL('./cron-child.js', import.meta.url));

export interface CronOutcome {
  ok: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  ms: number;
}

/** What a --cron-app child sends over IPC before it exits. */
export interface CronChildReport {
  ok: boolean;
  /** util.inspect of the returned value ('' for undefined). */
  result?: string;
  /** The thrown error's stack (or inspect of a non-Error). */
  error?: string;
}

/**
 * Spawns the master's cron tasks: a command with /bin/sh -c, or an exported function in a fresh
 * `node` child (never in a worker, whose event loop belongs to requests). Both run in the
 * master's cwd and environment. Each gets its own process group, so a shell pipeline's children
 * go with it when the master stops. Whatever a task does (exit non-zero, throw, crash, fail to
 * spawn) ends in one log line and a resolved promise: a task never harms the master.
 */
export class CronRunner {
  private readonly log: CronLog;
  private readonly cwd: string;
  private readonly children = new Set<ChildProcess>();

  constructor(log: CronLog, options: { cwd?: string } = {}) {
    this.log = log;
    this.cwd = options.cwd ?? process.cwd();
  }

  /** Tasks still running (tests; stop). */
  get running(): number {
    return this.children.size;
  }

  run(task: CronTask): Promise<CronOutcome> {
    const started = Date.now();
    const what = task.kind === 'app' ? `${task.command}:${task.exportName}` : task.command;
    let report: CronChildReport | null = null;
    let child: ChildProcess;
    try {
      child =
        task.kind === 'app'
          ? spawn(process.execPath, [CHILD, resolve(this.cwd, task.command), task.exportName ?? 'default'], {
              cwd: this.cwd,
              env: process.env,
              stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
              detached: true,
            })
          : spawn('/bin/sh', ['-c', task.command], { cwd: this.cwd, env: process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    } catch (err) {
      return Promise.resolve(this.failed(task, `could not start ${what}: ${(err as Error).message}`, started, null, null));
    }
    this.children.add(child);
    const prefix = `[cron ${task.id}]`;
    // Each line of its output in the log as `[cron N] line`.
    for (const out of [child.stdout, child.stderr]) eachLine(out, (line) => this.log.info(`${prefix} ${line}`));
    child.on('message', (m: CronChildReport) => {
      report = m;
    });
    this.log.info(`cron ${task.id}: running ${what} (pid: ${child.pid ?? '?'})`);
    return new Promise((resolveRun) => {
      let settled = false;
      const done = (o: CronOutcome): void => {
        if (settled) return;
        settled = true;
        this.children.delete(child);
        resolveRun(o);
      };
      // A process that never started (no pid) may get no 'close': settle here. Later errors
      // (a failed kill) change nothing about the run.
      child.on('error', (err) => {
        if (child.pid === undefined) done(this.failed(task, `could not start ${what}: ${err.message}`, started, null, null));
      });
      // 'close', not 'exit': the output pipes are drained by then, so the last lines come first.
      child.on('close', (code, signal) => {
        if (settled) return;
        const ms = Date.now() - started;
        const how = signal ? `killed by signal ${signal}` : `exited ${code}`;
        if (task.kind === 'command') {
          if (code === 0) {
            this.log.info(`cron ${task.id}: exited 0 in ${ms} ms`);
            return done({ ok: true, code, signal, ms });
          }
          return done(this.failed(task, `${how} in ${ms} ms`, started, code, signal));
        }
        const r = report as CronChildReport | null;
        if (r?.ok && code === 0) {
          this.log.info(`cron ${task.id}: ${what} returned${r.result ? ` ${r.result}` : ''} in ${ms} ms`);
          return done({ ok: true, code, signal, ms });
        }
        if (r && !r.ok) {
          const [first, ...stack] = (r.error ?? 'unknown error').split('\n');
          for (const line of stack) this.log.info(`${prefix} ${line}`);
          return done(this.failed(task, `${what} threw ${first} (in ${ms} ms)`, started, code, signal));
        }
        return done(this.failed(task, `${what}: its process ${how} before the function returned (in ${ms} ms)`, started, code, signal));
      });
    });
  }

  private failed(task: CronTask, detail: string, started: number, code: number | null, signal: NodeJS.Signals | null): CronOutcome {
    this.log.error('PORTICO_ERR_CRON_FAILED', `cron ${task.id}: ${detail}`);
    return { ok: false, code, signal, ms: Date.now() - started };
  }

  /** The master is stopping: SIGTERM to each running task's whole process group. */
  stop(): void {
    for (const child of this.children) {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  }
}
