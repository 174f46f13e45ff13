import type { Logger } from '../common/logger.js';
import type { CronTask } from './cron-spec.js';

/** What the scheduler needs of time: injected so the tests can run a simulated day at once. */
export interface CronClock {
  now(): Date;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

const systemClock: CronClock = {
  now: () => new Date(),
  // unref: the cron timer alone never keeps a stopping master alive.
  setTimer: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export type CronLog = Pick<Logger, 'info' | 'warn' | 'error'>;

/** Runs one task to its end; the runner logs its output and outcome. */
export type CronRun = (task: CronTask) => Promise<unknown>;

/**
 * The longest single wait. Timers are re-armed at least this often so that a wall-clock change
 * (NTP step, suspend/resume, DST) is noticed within a minute, and no delay ever nears
 * setTimeout's 2^31 ms limit (a monthly task is weeks away).
 */
const MAX_SLEEP_MS = 60_000;

interface Slot {
  task: CronTask;
  next: number;
  /** When the run in progress started (null: none), so an overlapping time is skipped. */
  runningSince: Date | null;
  runs: number;
  skipped: number;
}

export interface CronStatus {
  id: number;
  kind: CronTask['kind'];
  when: string;
  next: Date;
  running: boolean;
  runs: number;
  skipped: number;
}

function hhmm(d: Date): string {
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

function stamp(d: Date): string {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')} ${hhmm(d)}`;
}

/**
 * The master's cron table (uWSGI's --cron): one timer for the earliest due task. When it fires,
 * every task whose minute has come is started unless its previous run is still going (then that
 * time is skipped and logged, never queued: a slow task must not pile up runs). A missed time
 * (the master's loop was blocked, the machine slept) runs once when noticed, not once per missed
 * minute. The table lives in the master's runtime, not in the Master: a chain reload replaces
 * workers and leaves the timers alone.
 */
export class CronScheduler {
  private readonly slots: Slot[];
  private readonly clock: CronClock;
  private readonly log: CronLog;
  private readonly run: CronRun;
  private timer: unknown = null;
  private started = false;

  constructor(tasks: CronTask[], options: { run: CronRun; log: CronLog; clock?: CronClock }) {
    this.clock = options.clock ?? systemClock;
    this.log = options.log;
    this.run = options.run;
    this.slots = tasks.map((task) => ({ task, next: 0, runningSince: null, runs: 0, skipped: 0 }));
  }

  /** Computes each task's next time and arms the timer; a second call does nothing. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const now = this.clock.now();
    for (const s of this.slots) {
      s.next = s.task.schedule.next(now)!.getTime();
      const what = s.task.kind === 'app' ? `${s.task.command}:${s.task.exportName}` : s.task.command;
      this.log.info(`cron ${s.task.id}: '${s.task.when}' ${what}, next run at ${stamp(new Date(s.next))}`);
    }
    this.arm(now);
  }

  /** No more runs; a run in progress is the runner's to stop. */
  stop(): void {
    this.started = false;
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
  }

  status(): CronStatus[] {
    return this.slots.map((s) => ({
      id: s.task.id,
      kind: s.task.kind,
      when: s.task.when,
      next: new Date(s.next),
      running: s.runningSince !== null,
      runs: s.runs,
      skipped: s.skipped,
    }));
  }

  private arm(now: Date): void {
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
    if (!this.started || this.slots.length === 0) return;
    const earliest = Math.min(...this.slots.map((s) => s.next));
    const delay = Math.max(0, Math.min(earliest - now.getTime(), MAX_SLEEP_MS));
    this.timer = this.clock.setTimer(() => this.tick(), delay);
  }

  private tick(): void {
    this.timer = null;
    if (!this.started) return;
    const now = this.clock.now();
    for (const s of this.slots) {
      const fresh = s.task.schedule.next(now)!.getTime();
      if (s.next <= now.getTime()) {
        this.fire(s, new Date(s.next));
        s.next = fresh;
      } else if (fresh < s.next) {
        // The wall clock went back: wait for the next time from here, not the one planned before.
        s.next = fresh;
      }
    }
    this.arm(now);
  }

  private fire(s: Slot, at: Date): void {
    const id = s.task.id;
    if (s.runningSince) {
      s.skipped++;
      this.log.warn(`cron ${id}: still running since ${hhmm(s.runningSince)}, skipping this run`);
      return;
    }
    s.runs++;
    s.runningSince = at;
    // The runner reports a task's own failures; this catches a runner that itself throws, so
    // nothing from a task can reach the master's loop as an unhandled rejection.
    Promise.resolve()
      .then(() => this.run(s.task))
      .catch((err: unknown) => this.log.error('PORTICO_ERR_CRON_FAILED', `cron ${id}: ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => {
        s.runningSince = null;
      });
  }
}

/** runMaster's entry: the real runner and clock (tests may pass a clock). Returns the stopper. */
export async function startCron(tasks: CronTask[], log: CronLog, clock?: CronClock): Promise<{ scheduler: CronScheduler; stop(): void }> {
  const { CronRunner } = await import('./cron-runner.js');
  const runner = new CronRunner(log);
  const scheduler = new CronScheduler(tasks, { run: (t) => runner.run(t), log, clock });
  scheduler.start();
  return {
    scheduler,
    stop: () => {
      scheduler.stop();
      runner.stop();
    },
  };
}
