import type { CronClock, CronLog } from '../../master/cron-scheduler.js';

/* Test doubles for the cron scheduler: a clock the test moves, and a log that keeps its lines. */

/** Lets every pending promise callback and child-process event run (no timer involved). */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A clock the test moves. Like setTimeout, timers run on a monotonic time of their own: setting
 * the wall clock (`t`) back does not move them. advanceTo() fires each due timer at its instant
 * and lets the runs it starts settle.
 */
export class FakeClock implements CronClock {
  private seq = 0;
  private mono = 0;
  readonly timers = new Map<number, { at: number; fn: () => void }>();
  constructor(public t: number) {}
  now(): Date {
    return new Date(this.t);
  }
  setTimer(fn: () => void, ms: number): unknown {
    this.timers.set(++this.seq, { at: this.mono + ms, fn });
    return this.seq;
  }
  clearTimer(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  async advanceTo(target: number): Promise<void> {
    await settle(); // a run that just logged its end is finished by then
    const end = this.mono + (target - this.t);
    for (;;) {
      const due = [...this.timers].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t += Math.max(0, due[1].at - this.mono);
      this.mono = Math.max(this.mono, due[1].at);
      due[1].fn();
      await settle();
    }
    this.t = target;
    this.mono = end;
  }
}

/** A log that keeps its lines, and resolves waiters as lines arrive (no polling). */
export class RecordingLog implements CronLog {
  readonly lines: string[] = [];
  private waiters: Array<{ re: RegExp; resolve(): void }> = [];
  info(m: string): void {
    this.push(m);
  }
  warn(m: string): void {
    this.push(m);
  }
  error(code: string, m: string): void {
    this.push(`${code}: ${m}`);
  }
  flush(): void {}
  private push(line: string): void {
    this.lines.push(line);
    const hit = this.waiters.filter((w) => w.re.test(line));
    this.waiters = this.waiters.filter((w) => !hit.includes(w));
    for (const w of hit) w.resolve();
  }
  count(re: RegExp): number {
    return this.lines.filter((l) => re.test(l)).length;
  }
  /** Resolves once `n` lines match (counting those logged before); fails the test after 10 s. */
  waitFor(re: RegExp, n = 1): Promise<void> {
    if (this.count(re) >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`fewer than ${n} log lines matching ${re}:\n${this.lines.join('\n')}`)), 10_000);
      const check = (): void => {
        if (this.count(re) < n) return void this.waiters.push({ re, resolve: check });
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push({ re, resolve: check });
    });
  }
}
