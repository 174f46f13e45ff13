import { PorticoError } from '../common/errors.js';

/*
 * The --cron / --cron-app time spec, in uWSGI's field order: MIN HOUR DAY MONTH WEEKDAY.
 *
 * A small matcher of our own rather than croner or cron-parser (neither is a dependency): uWSGI's
 * own syntax (`-1` for any, `-N` for "every N") is in no library and would need a translation
 * layer anyway, the scheduler needs only "the next matching minute after a given Date" (so the
 * clock stays injectable: the tests drive a simulated day without waiting), and the master
 * process should not load more code than it needs. Crontab's lists, ranges and steps
 * (`1,15`, `9-17`, `*\/5`, `1-30/2`) are accepted too.
 */

interface FieldRule {
  name: string;
  min: number;
  max: number;
}

const FIELDS: readonly FieldRule[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12 },
  // 7 is Sunday as well, as in crontab and uWSGI.
  { name: 'weekday', min: 0, max: 7 },
];

/** One parsed field: the values it allows, and whether it restricts at all (for day/weekday). */
interface Field {
  allowed: boolean[];
  /** crontab's rule: day and weekday are ORed only when neither is `*`-like (nor -N in uWSGI). */
  restricted: boolean;
}

function invalid(source: string, detail: string): PorticoError {
  return new PorticoError('PORTICO_ERR_INVALID_OPTION', `'${source}': ${detail}`);
}

function parseField(token: string, rule: FieldRule, source: string): Field {
  const allowed = new Array<boolean>(rule.max + 1).fill(false);
  const bad = (): PorticoError => invalid(source, `bad ${rule.name} field '${token}' (${rule.min}-${rule.max}, * or -1 for any, -N for every N, or lists/ranges/steps like 1,15 9-17 */5)`);
  const num = (s: string): number => {
    if (!/^\d+$/.test(s)) throw bad();
    const n = Number(s);
    if (n < rule.min || n > rule.max) throw bad();
    return n;
  };
  if (token === '*' || token === '-1') {
    allowed.fill(true);
    return { allowed, restricted: false };
  }
  // uWSGI: -N means every N, matched as value % N == 0 (so day -5 is the 5th, 10th, ...).
  const neg = /^-(\d+)$/.exec(token);
  if (neg) {
    const step = Number(neg[1]);
    if (step < 1 || step > rule.max) throw bad();
    for (let v = rule.min; v <= rule.max; v++) allowed[v] = v % step === 0;
    return { allowed, restricted: false };
  }
  for (const item of token.split(',')) {
    const m = /^(\*|\d+(?:-\d+)?)(?:\/(\d+))?$/.exec(item);
    if (!m) throw bad();
    const [range, stepText] = [m[1]!, m[2]];
    let lo = rule.min;
    let hi = rule.max;
    if (range !== '*') {
      const [a, b] = range.split('-');
      lo = num(a!);
      // `A/S` (no range) runs from A to the field's maximum, as in Vixie cron.
      hi = b !== undefined ? num(b) : stepText !== undefined ? rule.max : lo;
      if (hi < lo) throw bad();
    }
    const step = stepText === undefined ? 1 : Number(stepText);
    if (step < 1) throw bad();
    for (let v = lo; v <= hi; v += step) allowed[v] = true;
  }
  return { allowed, restricted: !token.startsWith('*') };
}

/** A parsed MIN HOUR DAY MONTH WEEKDAY spec, matched in the master's local time. */
export class CronSchedule {
  private readonly minute: Field;
  private readonly hour: Field;
  private readonly day: Field;
  private readonly month: Field;
  private readonly weekday: Field;

  /** `fields` are the five time fields; `source` is what error messages quote. */
  constructor(fields: string[], source = fields.join(' ')) {
    if (fields.length !== 5) throw invalid(source, 'expected MIN HOUR DAY MONTH WEEKDAY');
    const [mi, h, d, mo, w] = fields.map((t, i) => parseField(t, FIELDS[i]!, source));
    this.minute = mi!;
    this.hour = h!;
    this.day = d!;
    this.month = mo!;
    this.weekday = w!;
    if (this.weekday.allowed[7]) this.weekday.allowed[0] = true;
    // 31 February and the like: refuse at startup rather than schedule nothing, silently.
    if (this.next(new Date()) === null) throw invalid(source, 'this day and month never occur together');
  }

  private dayMatches(d: Date): boolean {
    const dom = this.day.allowed[d.getDate()]!;
    const dow = this.weekday.allowed[d.getDay()]!;
    return this.day.restricted && this.weekday.restricted ? dom || dow : dom && dow;
  }

  /**
   * The first whole minute strictly after `after` that matches, or null if none in 8 years
   * (29 February can be that far away). Skips whole months, days and hours that cannot match,
   * so even a yearly spec costs a few hundred steps, not half a million minutes.
   */
  next(after: Date): Date | null {
    const d = new Date(after.getTime());
    d.setSeconds(0, 0);
    d.setMinutes(d.getMinutes() + 1);
    const limit = after.getTime() + 8 * 366 * 86_400_000;
    while (d.getTime() <= limit) {
      const before = d.getTime();
      if (!this.month.allowed[d.getMonth() + 1]) {
        d.setMonth(d.getMonth() + 1, 1);
        d.setHours(0, 0, 0, 0);
      } else if (!this.dayMatches(d)) {
        d.setDate(d.getDate() + 1);
        d.setHours(0, 0, 0, 0);
      } else if (!this.hour.allowed[d.getHours()]) {
        d.setHours(d.getHours() + 1, 0, 0, 0);
      } else if (!this.minute.allowed[d.getMinutes()]) {
        d.setMinutes(d.getMinutes() + 1, 0, 0);
      } else {
        return d;
      }
      // Around a DST change local-time arithmetic can land on the same instant: always move on.
      if (d.getTime() <= before) d.setTime(before + 60_000);
    }
    return null;
  }
}

export interface CronTask {
  /** 1, 2, ... in the order given: --cron first, then --cron-app. The log names tasks by it. */
  id: number;
  kind: 'command' | 'app';
  schedule: CronSchedule;
  /** The five time fields as given, for the log. */
  when: string;
  /** command: the shell command line; app: the module path as given. */
  command: string;
  /** app only: the export to call ('default' when none is named). */
  exportName?: string;
}

/** Parses one --cron or --cron-app value: five time fields, then the command or MODULE:EXPORT. */
export function parseCronTask(value: string, kind: 'command' | 'app', id: number): CronTask {
  const option = kind === 'command' ? '--cron' : '--cron-app';
  const m = /^\s*(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S[\s\S]*?)\s*$/.exec(value);
  if (!m) {
    throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `${option} '${value}': expected MIN HOUR DAY MONTH WEEKDAY ${kind === 'command' ? 'COMMAND' : 'MODULE:EXPORT'}`);
  }
  const fields = m.slice(1, 6);
  let schedule: CronSchedule;
  try {
    schedule = new CronSchedule(fields, value);
  } catch (err) {
    throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `${option} ${(err as PorticoError).message.replace(/^invalid option: /, '')}`);
  }
  const rest = m[6]!;
  const task: CronTask = { id, kind, schedule, when: fields.join(' '), command: rest };
  if (kind === 'app') {
    // The last colon splits MODULE from EXPORT, so a path may contain colons of its own.
    const colon = rest.lastIndexOf(':');
    task.command = colon > 0 ? rest.slice(0, colon) : rest;
    task.exportName = colon > 0 ? rest.slice(colon + 1) : 'default';
    if (!task.command || !/^[A-Za-z_$][\w$]*$/.test(task.exportName)) {
      throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--cron-app '${value}': expected MODULE:EXPORT after the time fields, got '${rest}'`);
    }
  }
  return task;
}

/** Every --cron, then every --cron-app value, numbered from 1. */
export function parseCronOptions(commands: string[] = [], apps: string[] = []): CronTask[] {
  return [...commands.map((v, i) => parseCronTask(v, 'command', i + 1)), ...apps.map((v, i) => parseCronTask(v, 'app', commands.length + i + 1))];
}
