import { strict as assert } from 'node:assert';
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { renderTop } from '../../../cli/top-render.js';
import { uwsgiRequest, type UwsgiResponse } from '../../../protocol/uwsgi/uwsgi-client.js';
import type { MasterStatsJson, WorkerStatsJson } from '../../../master/master-stats.js';
import { outputLine, type Started } from '../../../support/child-process.js';
import { freePort } from '../../../support/free-port.js';
import { fixturesDir, porticoBin } from '../../../support/paths.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

const run = promisify(execFile);

/** Runs `portico top ARGS`; resolves with its exit code and output whether it fails or not. */
async function top(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [porticoBin, 'top', ...args], { timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function worker(over: Partial<WorkerStatsJson>): WorkerStatsJson {
  return {
    id: 1,
    pid: 100,
    status: 'idle',
    requests: 0,
    in_flight: 0,
    exceptions: 0,
    harakiri_count: 0,
    respawn_count: 0,
    rss: 50 * 1024 * 1024,
    avg_rt: 2500,
    running_time: 125_000_000,
    last_spawn: 0,
    current_request: null,
    responsive: true,
    accepting: 1,
    delta_requests: 0,
    signals: 0,
    signal_queue: 0,
    vsz: 0,
    tx: 0,
    upgraded: 0,
    apps: [],
    cores: [],
    ...over,
  };
}

function doc(workers: WorkerStatsJson[]): MasterStatsJson {
  return {
    version: '9.9.9',
    listen_queue: 0,
    listen_queue_errors: 0,
    signal_queue: 0,
    load: 0,
    pid: 42,
    uid: 0,
    gid: 0,
    cwd: '/',
    locks: [],
    sockets: [{ name: '/tmp/app.sock', proto: 'uwsgi', queue: 0, max_queue: 100, shared: 0, can_offload: 0 }],
    workers,
  };
}

/** The table row of the worker with this pid, split on runs of spaces. */
function row(screen: string, pid: number): string[] {
  const line = screen.split('\n').find((l) => l.trim().split(/\s+/)[1] === String(pid));
  assert.ok(line, `no row for pid ${pid} in:\n${screen}`);
  return line.trim().split(/\s+/);
}

describe('portico top: rendering', () => {
  it('computes req/s per worker and in total from two polls', () => {
    const prev = doc([worker({ id: 1, pid: 100, requests: 10 }), worker({ id: 2, pid: 200, requests: 4 })]);
    const cur = doc([
      worker({ id: 1, pid: 100, requests: 30, status: 'busy', in_flight: 1, current_request: { method: 'POST', uri: '/upload', running_ms: 1250 } }),
      worker({ id: 2, pid: 200, requests: 9 }),
    ]);
    const screen = renderTop(prev, cur, 2000);
    // (30 - 10 + 9 - 4) requests over 2 s.
    assert.match(screen, /^portico 9\.9\.9 - master pid 42 - sockets: \/tmp\/app\.sock \(uwsgi\)$/m);
    assert.match(screen, /requests: 39 {2}req\/s: 12\.5 {2}workers: 1 busy \/ 2 total/);
    // A master without runtime health (uWSGI's, or an older portico) shows "-" in its columns.
    assert.deepEqual(row(screen, 100).slice(0, 17), ['1', '100', 'busy', '30', '10.0', '1', '0', '0', '0', '50.0', '2.5', '2m05s', '-', '-', '-', '-', 'POST']);
    assert.match(screen, /POST \/upload \(1\.3 s\)$/m);
    assert.equal(row(screen, 200)[4], '2.5');
  });

  it("shows each worker's runtime health, and marks one whose event loop is blocked", () => {
    const health = {
      loop_delay_p50_ms: 0.2,
      loop_delay_p99_ms: 12.34,
      loop_delay_max_ms: 20,
      loop_utilization: 0.456,
      gc_count: 9,
      gc_total_ms: 30,
      gc_max_pause_ms: 2.5,
      heap_used: 24 * 1024 * 1024,
      heap_limit: 2048 * 1024 * 1024,
      handles: 4,
      blocked_ms: 0,
    };
    const cur = doc([
      worker({ id: 1, pid: 100, health }),
      worker({ id: 2, pid: 200, status: 'busy', in_flight: 1, health: { ...health, blocked_ms: 1500 }, current_request: { method: 'GET', uri: '/spin', running_ms: 1600 } }),
    ]);
    const screen = renderTop(null, cur, 0);
    assert.match(screen, /RUNNING {2}LAG99\(ms\) {2}ELU% {3}HEAP\(MB\) {2}GC\(ms\) {2}CURRENT$/m);
    assert.deepEqual(row(screen, 100).slice(12), ['12.3', '46', '24.0/2048', '2.5']);
    assert.equal(row(screen, 200)[2], 'BLOCKED(1.5s)');
  });

  it('counts a respawned worker (same id, new pid) from zero instead of going negative', () => {
    const prev = doc([worker({ id: 1, pid: 100, requests: 50 })]);
    const cur = doc([worker({ id: 1, pid: 101, requests: 3, respawn_count: 1 })]);
    const screen = renderTop(prev, cur, 1000);
    assert.match(screen, /req\/s: 3\.0/);
    assert.equal(row(screen, 101)[4], '3.0');
  });

  it('shows no rate without a previous poll, and cuts lines to the width', () => {
    const cur = doc([worker({ current_request: { method: 'GET', uri: `/${'x'.repeat(300)}`, running_ms: 10 } })]);
    assert.match(renderTop(null, cur, 0), /req\/s: - /);
    assert.equal(row(renderTop(null, cur, 0), 100)[4], '-');
    const narrow = renderTop(null, cur, 0, { width: 80 });
    for (const line of narrow.split('\n')) assert.ok(line.length <= 80, line);
    // With some room left for CURRENT, the URI is shortened and the running time kept.
    const wide = renderTop(null, cur, 0, { width: 170 });
    const line = wide.split('\n').find((l) => l.includes('GET /x'));
    assert.match(line!, /GET \/x+… \(0\.0 s\)$/);
    assert.equal(line!.length, 170);
  });

  it("lists the master's cron tasks and cheap slots apart from the running workers", () => {
    const cur = {
      ...doc([worker({}), worker({ id: 2, pid: 0, status: 'cheap' })]),
      cron: [{ id: 1, kind: 'command', when: '*/15 * * * *', next: '2026-11-22T03:45:00.000Z', running: true, runs: 3, skipped: 1 }],
    };
    const screen = renderTop(null, cur, 0);
    assert.match(screen, /workers: 0 busy \/ 1 total \(1 cheap\)/);
    assert.match(screen, /cron 1: '\*\/15 \* \* \* \*' \(command\) next 2026-11-22 03:45Z, 3 run\(s\), 1 skipped, running/);
  });

  it('lists the gateway processes of serve --gateway-processes, one line each', () => {
    const cur = {
      ...doc([worker({})]),
      gateways: [
        { id: 1, pid: 4101, status: 'serving' as const, queue: 0, respawns: 0 },
        { id: 2, pid: 4177, status: 'starting' as const, queue: 3, respawns: 1 },
      ],
    };
    const screen = renderTop(null, cur, 0);
    assert.match(screen, /^gateway 1: pid 4101 serving, queue 0, 0 respawn\(s\)$/m);
    assert.match(screen, /^gateway 2: pid 4177 starting, queue 3, 1 respawn\(s\)$/m);
    assert.doesNotMatch(renderTop(null, doc([worker({})]), 0), /gateway/);
  });
});

describe('portico top: against a running master', () => {
  const tmp = makeTmpDir('top');
  const socket = join(tmp.path, 'app.sock');
  const stats = join(tmp.path, 'stats.sock');
  let master: Started;
  let held: Promise<UwsgiResponse>;

  before(async () => {
    master = await startWorker(join(fixturesDir, 'behaviour-app.mjs'), socket, ['--processes', '2', '--stats', stats]);
    // startWorker returns at the first worker's line; the stats server listens once all are up.
    await outputLine(master, /stats server on /);
  });

  after(async () => {
    // SIGTERM stops the master gracefully; its workers' SIGTERM also releases /hold.
    await master?.stop();
    await held?.catch(() => {});
    tmp.cleanup();
  });

  it('--once lists both workers, the busy one with the held request, and the request count', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await uwsgiRequest({ socket, path: '/' })).status, 200);
    // The worker logs a request after counting it: three log lines mean the board says 3.
    await outputLine(master, /(?:GET \/ => [^\n]*\n[\s\S]*){3}/);
    held = uwsgiRequest({ socket, path: '/hold?who=top' });
    await outputLine(master, /app is holding a request/);

    const r = await top(['--stats', stats, '--once']);
    assert.equal(r.code, 0, r.stderr);
    const pids = [...master.output().matchAll(/portico worker (\d+): fetch app/g)].map((m) => Number(m[1]));
    assert.equal(pids.length, 2, master.output());
    for (const pid of pids) row(r.stdout, pid);
    assert.match(r.stdout, /requests: 3 {2}req\/s: - {2}workers: 1 busy \/ 2 total/);
    const busy = r.stdout.split('\n').filter((l) => l.trim().split(/\s+/)[2] === 'busy');
    assert.equal(busy.length, 1, r.stdout);
    assert.match(busy[0]!, /GET \/hold\?who=top \(\d+\.\d s\)$/);
    assert.ok(pids.includes(Number(busy[0]!.trim().split(/\s+/)[1])), r.stdout);
  });

  it('--once --json prints the document as the server wrote it', async () => {
    const r = await top([stats, '--once', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout) as MasterStatsJson;
    assert.equal(json.workers.length, 2);
    assert.equal(
      json.workers.reduce((n, w) => n + w.requests, 0),
      3,
    );
    assert.match(r.stdout, /^\{\n "version"/);
  });

  it('--once exits 1 naming the address when the stats server is not there', async () => {
    const missing = join(tmp.path, 'missing-stats.sock');
    const r = await top(['--stats', missing, '--once']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.ok(r.stderr.includes(`cannot read the stats server at ${missing}: ENOENT`), r.stderr);
  });

  it('refuses --json without --once, and no address at all', async () => {
    assert.equal((await top(['--stats', stats, '--json'])).code, 2);
    const r = await top([]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--stats PATH\|HOST:PORT/);
  });
});

describe('stats server: a bare port and --stats-hide-query', () => {
  const tmp = makeTmpDir('stats-bare');
  after(() => tmp.cleanup());

  it('--stats :PORT listens on 127.0.0.1 only; --stats-hide-query shows the running request without its query', async () => {
    const port = await freePort();
    const socket = join(tmp.path, 'app.sock');
    const master = await startWorker(join(fixturesDir, 'behaviour-app.mjs'), socket, ['--processes', '1', '--stats', `:${port}`, '--stats-hide-query']);
    const held = uwsgiRequest({ socket, path: '/hold?token=s3cret' });
    try {
      await outputLine(master, /stats server on 127\.0\.0\.1:\d+/);
      const listening = execFileSync('ss', ['-ltnH', 'sport', '=', `:${port}`], { encoding: 'utf8' })
        .trim()
        .split('\n');
      assert.deepEqual(
        listening.map((l) => l.trim().split(/\s+/)[3]),
        [`127.0.0.1:${port}`],
      );
      await outputLine(master, /app is holding a request/);
      const r = await top([`127.0.0.1:${port}`, '--once', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const doc = JSON.parse(r.stdout) as MasterStatsJson;
      assert.equal(doc.workers[0]!.current_request?.uri, '/hold?…');
      assert.doesNotMatch(r.stdout, /s3cret/);
    } finally {
      await master.stop();
      await held.catch(() => {});
    }
  });
});
