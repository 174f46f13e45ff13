import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runtimeOptions } from '../../../cli/master-values.js';
import { CronRunner } from '../../../master/cron-runner.js';
import { CronScheduler } from '../../../master/cron-scheduler.js';
import { CronSchedule, parseCronOptions, parseCronTask, type CronTask } from '../../../master/cron-spec.js';
import type { Master } from '../../../master/master.js';
import { runMaster } from '../../../master/master-runtime.js';
import { fetchStats } from '../../../master/stats-client.js';
import { outputLine, startProcess } from '../../../support/child-process.js';
import { FakeClock, RecordingLog, settle } from '../../support/cron-fakes.js';
import { fixturesDir, porticoBin } from '../../../support/paths.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

const tmp = makeTmpDir('cron');
after(() => tmp.cleanup());

const at = (y: number, mo: number, d: number, h = 0, mi = 0): number => new Date(y, mo - 1, d, h, mi).getTime();
const task = (spec: string, id = 1): CronTask => parseCronTask(`${spec} true`, 'command', id);

/** Runs `spec` on a fake clock from `from` to `to`; returns the local times of its runs. */
async function simulate(spec: string, from: number, to: number): Promise<Date[]> {
  const clock = new FakeClock(from);
  const runs: Date[] = [];
  const s = new CronScheduler([task(spec)], { clock, log: new RecordingLog(), run: async () => void runs.push(clock.now()) });
  s.start();
  await clock.advanceTo(to);
  s.stop();
  assert.equal(clock.timers.size, 0);
  return runs;
}

const hm = (d: Date): string => `${d.getHours()}:${String(d.getMinutes()).padStart(2, '0')}`;

// Monday 23 November 2026, away from any DST change in the usual zones.
const MONDAY = at(2026, 11, 23);
const DAY = 86_400_000;

describe('cron: schedule on a simulated clock', () => {
  it("'*/15 * * * *' runs 96 times a day, on the quarter hours", async () => {
    const runs = await simulate('*/15 * * * *', MONDAY - 1, MONDAY + DAY - 1);
    assert.equal(runs.length, 96);
    assert.deepEqual(runs.slice(0, 3).map(hm), ['0:00', '0:15', '0:30']);
    assert.ok(runs.every((d) => d.getMinutes() % 15 === 0 && d.getSeconds() === 0));
  });

  it("'0 9 * * 1-5' runs at 09:00 on weekdays only", async () => {
    const runs = await simulate('0 9 * * 1-5', MONDAY, MONDAY + 14 * DAY);
    assert.equal(runs.length, 10);
    assert.ok(runs.every((d) => d.getDay() >= 1 && d.getDay() <= 5 && hm(d) === '9:00'));
  });

  it("'-1 -1 -1 -1 -1' runs every minute", async () => {
    assert.equal((await simulate('-1 -1 -1 -1 -1', MONDAY - 1, MONDAY + DAY - 1)).length, 1440);
  });

  it("uWSGI's negative values are steps: -5 minutes, -6 hours, -10 days", async () => {
    const fives = await simulate('-5 -1 -1 -1 -1', MONDAY - 1, MONDAY + 3_600_000 - 1);
    assert.deepEqual(
      fives.map((d) => d.getMinutes()),
      [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55],
    );
    assert.deepEqual((await simulate('0 -6 -1 -1 -1', MONDAY - 1, MONDAY + DAY - 1)).map(hm), ['0:00', '6:00', '12:00', '18:00']);
    // value % N == 0, as uWSGI matches it: the 10th, 20th and 30th of a 31-day month.
    const days = await simulate('0 0 -10 -1 -1', at(2026, 12, 1) - 1, at(2027, 1, 1) - 1);
    assert.deepEqual(
      days.map((d) => d.getDate()),
      [10, 20, 30],
    );
  });

  it('lists, ranges, steps; day and weekday ORed as in crontab; weekday 7 is Sunday', async () => {
    assert.equal((await simulate('0,30 9-17 * * *', MONDAY, MONDAY + DAY)).length, 18);
    assert.deepEqual((await simulate('5 1-12/5 * * *', MONDAY, MONDAY + DAY)).map(hm), ['1:05', '6:05', '11:05']);
    // 1 November 2026 is a Sunday; then Mondays 2, 9, 16, 23, 30.
    const orRuns = await simulate('0 12 1 * 1', at(2026, 11, 1), at(2026, 12, 1));
    assert.deepEqual(
      orRuns.map((d) => d.getDate()),
      [1, 2, 9, 16, 23, 30],
    );
    const sundays = await simulate('0 0 * * 7', MONDAY, MONDAY + 14 * DAY);
    assert.ok(sundays.length === 2 && sundays.every((d) => d.getDay() === 0));
  });

  it('next() finds far dates quickly: 29 February, and yearly tasks', () => {
    const leap = new CronSchedule(['0', '0', '29', '2', '*']).next(new Date(MONDAY))!;
    assert.equal(leap.getTime(), at(2028, 2, 29));
    assert.equal(new CronSchedule(['30', '4', '1', '1', '-1']).next(new Date(MONDAY))!.getTime(), at(2027, 1, 1, 4, 30));
  });

  it('a task still running at its next time is not started twice, and the skip is logged', async () => {
    const clock = new FakeClock(MONDAY - 1);
    const log = new RecordingLog();
    let release = (): void => {};
    let runs = 0;
    const s = new CronScheduler([task('* * * * *')], {
      clock,
      log,
      run: () =>
        new Promise<void>((resolve) => {
          runs++;
          release = resolve;
        }),
    });
    s.start();
    await clock.advanceTo(MONDAY + 4 * 60_000);
    assert.equal(runs, 1);
    assert.equal(s.status()[0]!.skipped, 4);
    assert.equal(log.lines.filter((l) => l === 'cron 1: still running since 00:00, skipping this run').length, 4);
    release();
    await settle();
    await clock.advanceTo(MONDAY + 5 * 60_000);
    assert.equal(runs, 2);
    s.stop();
  });

  it('a failing run is logged as PORTICO_ERR_CRON_FAILED and the next one still comes', async () => {
    const clock = new FakeClock(MONDAY - 1);
    const log = new RecordingLog();
    let runs = 0;
    const s = new CronScheduler([task('* * * * *')], {
      clock,
      log,
      run: () => {
        runs++;
        throw new Error('runner broke');
      },
    });
    s.start();
    await clock.advanceTo(MONDAY + 60_000);
    assert.equal(runs, 2);
    assert.equal(log.lines.filter((l) => l === 'PORTICO_ERR_CRON_FAILED: cron 1: runner broke').length, 2);
    s.stop();
  });

  it('a wall clock set back waits for the next time from there, not the one planned before', async () => {
    const clock = new FakeClock(at(2026, 11, 23, 10, 0));
    const runs: string[] = [];
    const s = new CronScheduler([task('30 * * * *')], { clock, log: new RecordingLog(), run: async () => void runs.push(hm(clock.now())) });
    s.start();
    clock.t = at(2026, 11, 23, 8, 0);
    await clock.advanceTo(at(2026, 11, 23, 9, 0));
    assert.deepEqual(runs, ['8:30']);
    s.stop();
  });
});

describe('cron: option parsing', () => {
  const bad: Array<[string, RegExp]> = [
    ['61 * * * * x', /bad minute field '61'/],
    ['a * * * * x', /bad minute field 'a'/],
    ['* 24 * * * x', /bad hour field '24'/],
    ['* * 0 * * x', /bad day field '0'/],
    ['* * * 13 * x', /bad month field '13'/],
    ['* * * * 8 x', /bad weekday field '8'/],
    ['* * * * 5-1 x', /bad weekday field '5-1'/],
    ['*/0 * * * * x', /bad minute field '\*\/0'/],
    ['* * * * *', /expected MIN HOUR DAY MONTH WEEKDAY COMMAND/],
    ['0 0 31 2 * x', /never occur together/],
  ];
  for (const [spec, re] of bad) {
    it(`--cron '${spec}' is refused, naming what is wrong`, () => {
      assert.throws(
        () => runtimeOptions({ cron: [spec] }),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'PORTICO_ERR_INVALID_OPTION');
          assert.match(err.message, re);
          assert.match(err.message, /--cron '/);
          return true;
        },
      );
    });
  }

  it('--cron-app takes MODULE:EXPORT (last colon), numbered after the --cron tasks', () => {
    const tasks = parseCronOptions(['0 3 * * * /usr/bin/backup --all  now'], ['*/5 * * * * ./jobs.mjs:nightly', '0 0 1 1 * app.mjs']);
    assert.deepEqual(
      tasks.map((t) => [t.id, t.kind, t.when, t.command, t.exportName]),
      [
        [1, 'command', '0 3 * * *', '/usr/bin/backup --all  now', undefined],
        [2, 'app', '*/5 * * * *', './jobs.mjs', 'nightly'],
        [3, 'app', '0 0 1 1 *', 'app.mjs', 'default'],
      ],
    );
    assert.throws(() => parseCronOptions([], ['* * * * * app.mjs:not-a-name']), /expected MODULE:EXPORT/);
    assert.deepEqual(runtimeOptions({}).cron, []);
  });
});

/** A module for --cron-app tests, written beside the test's sockets. */
const jobs = join(tmp.path, 'jobs.mjs');
writeFileSync(
  jobs,
  `
export async function tick() { console.log('tick from', process.pid); return { done: 42 }; }
export function boom() { throw new Error('boom in cron'); }
export function quit() { process.exit(5); }
export default function () { console.error('default export ran'); }
`,
);

describe('cron: the runner, for real', () => {
  const app = (spec: string, id = 1): CronTask => parseCronTask(`* * * * * ${spec}`, 'app', id);
  const cmd = (line: string, id = 1): CronTask => parseCronTask(`* * * * * ${line}`, 'command', id);

  it('a shell command: output lines prefixed, exit status and time logged, in the cwd and env', async () => {
    const log = new RecordingLog();
    process.env.PORTICO_CRON_TEST = 'from-env';
    const outcome = await new CronRunner(log, { cwd: tmp.path }).run(cmd('echo hi; echo "$PORTICO_CRON_TEST" >&2; pwd; printf tail'));
    assert.equal(outcome.ok, true);
    assert.match(log.lines[0]!, /^cron 1: running echo hi; .* \(pid: \d+\)$/);
    for (const l of ['[cron 1] hi', '[cron 1] from-env', `[cron 1] ${tmp.path}`, '[cron 1] tail']) assert.ok(log.lines.includes(l), l);
    assert.match(log.lines.at(-1)!, /^cron 1: exited 0 in \d+ ms$/);
  });

  it('a failing command, a killed one and a missing one are logged as PORTICO_ERR_CRON_FAILED', async () => {
    const log = new RecordingLog();
    const runner = new CronRunner(log);
    assert.equal((await runner.run(cmd('echo failing; exit 3', 2))).code, 3);
    assert.match(log.lines.at(-1)!, /^PORTICO_ERR_CRON_FAILED: cron 2: exited 3 in \d+ ms$/);
    assert.equal((await runner.run(cmd('kill -9 $$', 3))).signal, 'SIGKILL');
    assert.match(log.lines.at(-1)!, /^PORTICO_ERR_CRON_FAILED: cron 3: killed by signal SIGKILL/);
    assert.equal((await runner.run(cmd('/no/such/program', 4))).code, 127);
    assert.ok(log.lines.some((l) => /^\[cron 4\] .*no\/such\/program/.test(l)));
    assert.equal(runner.running, 0);
  });

  it('--cron-app: a fresh node child awaits the export; its result, throw or crash is logged', async () => {
    const log = new RecordingLog();
    const runner = new CronRunner(log);
    assert.equal((await runner.run(app(`${jobs}:tick`))).ok, true);
    const tickPid = Number(/tick from (\d+)/.exec(log.lines.join('\n'))![1]);
    assert.notEqual(tickPid, process.pid);
    assert.match(log.lines.at(-1)!, /^cron 1: .*jobs\.mjs:tick returned \{ done: 42 \} in \d+ ms$/);

    assert.equal((await runner.run(app(`${jobs}:boom`, 2))).ok, false);
    assert.match(log.lines.at(-1)!, /^PORTICO_ERR_CRON_FAILED: cron 2: .*jobs\.mjs:boom threw Error: boom in cron/);
    assert.ok(
      log.lines.some((l) => /^\[cron 2\]\s+at boom/.test(l)),
      'the stack is logged',
    );

    assert.equal((await runner.run(app(`${jobs}:quit`, 3))).code, 5);
    assert.match(log.lines.at(-1)!, /^PORTICO_ERR_CRON_FAILED: cron 3: .*its process exited 5 before the function returned/);

    await runner.run(app(`${jobs}:missing`, 4));
    assert.match(log.lines.at(-1)!, /^PORTICO_ERR_CRON_FAILED: cron 4: .*threw Error: .*has no exported function 'missing'/);

    assert.equal((await runner.run(app(jobs, 5))).ok, true);
    assert.ok(log.lines.includes('[cron 5] default export ran'));
  });
});

describe('cron: in the master', () => {
  it('runMaster runs the table on its clock; SIGHUP reloads the workers and leaves the timers alone', async () => {
    const log = new RecordingLog();
    let reloads = 0;
    const master = {
      log,
      workers: new Map(),
      start: async () => {},
      stop: async () => {},
      reload: async () => void reloads++,
      scale: () => {},
    } as unknown as Master;
    const clock = new FakeClock(MONDAY - 1);
    const before = { hup: process.listeners('SIGHUP'), term: process.listeners('SIGTERM'), int: process.listeners('SIGINT') };
    const cron = runtimeOptions({ cron: ['-1 -1 -1 -1 -1 echo hi'], 'cron-app': [`*/2 * * * * ${jobs}:tick`] }).cron;
    const running = runMaster(master, { cron, cronClock: clock, sockets: () => [], readyLine: 'ready' });
    await log.waitFor(/^cron 2: .* next run at 2026-11-23 00:00$/);
    await log.waitFor(/^ready$/);
    const added = (sig: 'SIGHUP' | 'SIGTERM' | 'SIGINT', old: Function[]): Function[] => process.listeners(sig).filter((l) => !old.includes(l));
    try {
      assert.equal(clock.timers.size, 1);
      await clock.advanceTo(MONDAY);
      await log.waitFor(/^cron 1: exited 0 in \d+ ms$/);
      await log.waitFor(/^cron 2: .*jobs\.mjs:tick returned \{ done: 42 \}/);
      assert.ok(log.lines.includes('[cron 1] hi'));

      for (const l of added('SIGHUP', before.hup)) (l as () => void)();
      assert.equal(reloads, 1);
      // The same single timer, the same plan: the reload touched neither.
      assert.equal(clock.timers.size, 1);
      // Minute by minute, each run done before the next minute (real processes take real ms).
      await clock.advanceTo(MONDAY + 60_000);
      await log.waitFor(/^cron 1: exited 0/, 2);
      await clock.advanceTo(MONDAY + 2 * 60_000);
      await log.waitFor(/^cron 1: exited 0/, 3);
      await log.waitFor(/^cron 2: .*returned/, 2);
      assert.equal(log.count(/^cron 1: running/), 3);
      assert.equal(log.count(/^cron 2: running/), 2);
      assert.equal(log.count(/still running/), 0);
    } finally {
      for (const l of added('SIGTERM', before.term)) (l as (sig: string) => void)('SIGTERM');
      await running;
      for (const sig of ['SIGTERM', 'SIGINT'] as const) for (const l of added(sig, before[sig === 'SIGTERM' ? 'term' : 'int'])) process.off(sig, l as () => void);
    }
    assert.equal(clock.timers.size, 0, 'stopping the master stops the cron timer');
  });

  it('portico worker --cron: the option is accepted, the table logged at start; a bad spec stops the start', async () => {
    const socket = join(tmp.path, 'w.sock');
    const stats = join(tmp.path, 'cron-stats.sock');
    const proc = startProcess(process.execPath, [
      porticoBin,
      'worker',
      join(fixturesDir, 'master-app.mjs'),
      '--socket',
      socket,
      '--processes',
      '1',
      // uWSGI's spelling: a value that starts with '-' is taken as the option's value.
      '--cron',
      '-1 -1 -1 -1 -1 echo hi',
      '--cron-app',
      `0 3 * * * ${jobs}:tick`,
      '--stats',
      stats,
    ]);
    try {
      await outputLine(proc, /cron 1: '-1 -1 -1 -1 -1' echo hi, next run at \d{4}-\d\d-\d\d \d\d:\d\d/);
      await outputLine(proc, /cron 2: '0 3 \* \* \*' .*jobs\.mjs:tick, next run at \d{4}-\d\d-\d\d 03:00/);
      // The ready line comes last, once SIGTERM is handled.
      await outputLine(proc, /accepting on/);
      // The stats server (and so `portico top`) lists the table.
      const doc = await fetchStats(stats, 5000);
      assert.deepEqual(
        doc.cron?.map((c) => [c.id, c.when, c.runs]),
        [
          [1, '-1 -1 -1 -1 -1', 0],
          [2, '0 3 * * *', 0],
        ],
      );
      assert.match(doc.cron![1]!.next, /T\d\d:00:00\.000Z$/, 'on the hour (03:00 local)');
    } finally {
      assert.equal(await proc.stop('SIGTERM'), 0);
    }
    const badProc = startProcess(process.execPath, [porticoBin, 'worker', join(fixturesDir, 'master-app.mjs'), '--socket', join(tmp.path, 'bad.sock'), '--cron', '* 25 * * * echo hi']);
    const [code] = await once(badProc.child, 'close');
    assert.equal(code, 1);
    assert.match(badProc.output(), /PORTICO_ERR_INVALID_OPTION.*bad hour field '25'/);
  });
});
