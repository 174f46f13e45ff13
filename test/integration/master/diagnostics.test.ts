import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { outputLine, type Started } from '../../../support/child-process.js';
import { startNginx } from '../../../support/nginx.js';
import { freePort } from '../../../support/free-port.js';
import { fixturesDir, porticoBin } from '../../../support/paths.js';
import { startServe, type HttpFront } from '../../support/portico-gateway.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { fetchStatsRaw } from '../../../master/stats-client.js';
import { promisify } from 'node:util';

// docs/diagnostics.md: harakiri logs the stuck request's stack, SIGUSR2 logs every worker's
// stack without killing, --log-slow logs a slow request with its stack sampled while it runs.
const tmp = makeTmpDir('diagnostics');
after(() => tmp.cleanup());

const running: Array<{ stop(): Promise<unknown> }> = [];
after(async () => {
  await Promise.all(running.map((f) => f.stop()));
});

const KINDS = ['fetch', 'node', 'wsgi'] as const;
const app = (kind: string): string => join(fixturesDir, 'diagnostics', `${kind}-app.mjs`);
/** The app's own function that calls the spinning or waiting one, per kind. */
const CALLER: Record<(typeof KINDS)[number], string> = { fetch: 'handleRequest', node: 'handleRequest', wsgi: 'application' };

async function serve(kind: string, extra: string[]): Promise<HttpFront> {
  const front = await startServe(app(kind), ['--workers', '2', '--disable-logging', ...extra]);
  running.push(front);
  return front;
}

/** The whole line matching `head` in the output, with the stack lines that follow it. */
async function stackAfter(proc: Started, head: string): Promise<string> {
  const m = await outputLine(proc, new RegExp(`[^\\n]*${head}[^\\n]*\\n(?: {4}[^\\n]*\\n)+`));
  return m[0];
}

describe('diagnostics: where a stuck request is', () => {
  for (const kind of KINDS) {
    it(`${kind} app spinning under serve --harakiri 2: the log has the request, the worker and the app's functions from its stack`, async () => {
      const front = await serve(kind, ['--harakiri', '2']);
      const res = fetch(`${front.url}/spin?x=1`);
      const entry = await stackAfter(front.proc, 'HARAKIRI ON WORKER');
      assert.match(entry, /^PORTICO_ERR_HARAKIRI: HARAKIRI ON WORKER \d \(pid: \d+\): GET \/spin\?x=1 ran \d+\.\d s \(--harakiri 2\), its stack:\n/);
      const file = (f: string): string => join(fixturesDir, 'diagnostics', f).replaceAll('/', '\\/').replaceAll('.', '\\.');
      const at = (fn: string, f: string): string => ` {4}at ${fn} \\(file://${file(f)}:\\d+:\\d+\\)\\n`;
      assert.match(entry, new RegExp(`\\n${at('spinForever', 'stuck.mjs')}${at('stall', 'stuck.mjs')}${at(CALLER[kind], `${kind}-app.mjs`)}`));
      assert.equal((await res).status, 504);
    });
  }

  it('under the master behind nginx: the same entry, and a worker blocked in a native call is killed anyway, the log says why', async () => {
    const socket = join(tmp.path, 'nginx.sock');
    const worker = await startWorker(app('fetch'), socket, ['--processes', '1', '--harakiri', '2', '--harakiri-graceful-timeout', '1', '--chmod-socket', '666', '--disable-logging']);
    running.push(worker);
    const nginx = await startNginx(tmp.path, socket);
    running.push(nginx);
    const spin = await fetch(`${nginx.url}/spin`);
    assert.equal(spin.status, 502);
    assert.match(await stackAfter(worker, 'HARAKIRI ON WORKER 1'), /GET \/spin ran .*\n {4}at spinForever .*\n {4}at stall .*\n {4}at handleRequest /);
    await outputLine(worker, /Respawned worker 1/);
    // execSync waits in C++: V8's interrupt, which the inspector needs, never comes.
    const native = await fetch(`${nginx.url}/native`);
    assert.equal(native.status, 502);
    assert.match(
      await stackAfter(worker, 'HARAKIRI ON WORKER 1 \\(pid: \\d+\\): GET /native'),
      /\n {4}\(no stack: the app's thread did not answer the inspector within 1000 ms: it is blocked outside JavaScript, in a native call\)\n/,
    );
  });

  for (const kind of KINDS) {
    it(`${kind} app in a long synchronous call: SIGUSR2 logs its stack and request while it runs, and kills nothing`, async () => {
      const front = await serve(kind, []);
      const flag = join(tmp.path, `flag-${kind}`);
      const res = fetch(`${front.url}/wait?flag=${encodeURIComponent(flag)}`);
      await outputLine(front.proc, /app waiting for the flag/);
      // Until the watchdog sees the heartbeat late the loop may merely be between callbacks.
      await outputLine(front.proc, /is not answering: its event loop has been blocked/);
      front.proc.child.kill('SIGUSR2');
      const entry = await stackAfter(front.proc, `STACK OF WORKER \\d \\(pid: \\d+\\): GET /wait`);
      assert.match(
        entry,
        /: GET \/wait\?flag=\S+ running \d+\.\d s, event loop blocked for \d+\.\d s\n {4}at waitForFlag \(file:\/\/\S+:\d+:\d+\)\n {4}at stall .*\n {4}at (handleRequest|application) /,
      );
      // The other worker is idle: said so, no stack of whatever callback ran next.
      await outputLine(front.proc, /STACK OF WORKER \d \(pid: \d+\): no request in flight\n {4}\(no stack: the event loop is not blocked \(it turned \d+ ms ago\)/);
      writeFileSync(flag, '');
      const answer = await res;
      assert.equal(answer.status, 200);
      assert.doesNotMatch(front.proc.output(), /HARAKIRI|exited/);
    });
  }

  it('--log-slow 1: a request past it is logged with its stack while it runs, and again when it ends', async () => {
    const front = await serve('fetch', ['--log-slow', '1']);
    const flag = join(tmp.path, 'flag-slow');
    const res = fetch(`${front.url}/wait?flag=${encodeURIComponent(flag)}`);
    const entry = await stackAfter(front.proc, 'SLOW REQUEST on worker');
    assert.match(
      entry,
      /^SLOW REQUEST on worker \d \(pid: \d+\): GET \/wait\?flag=\S+ still running after \d+\.\d s \(--log-slow 1\), its stack:\n {4}at waitForFlag .*\n {4}at stall .*\n {4}at handleRequest /,
    );
    writeFileSync(flag, '');
    assert.equal((await res).status, 200);
    await outputLine(front.proc, /SLOW REQUEST on worker \d \(pid: \d+\): GET \/wait\?flag=\S+ took \d+\.\d s \(--log-slow 1\)\n/);
  });
});

describe('diagnostics: runtime health per worker', () => {
  it("--stats JSON, portico top and /metrics show each worker's health, and the one whose loop is blocked before --harakiri fires", async () => {
    const stats = join(tmp.path, 'health-stats.sock');
    const port = await freePort();
    const front = await serve('fetch', ['--harakiri', '30', '--graceful-timeout', '1', '--stats', stats, '--metrics', `127.0.0.1:${port}`]);
    // Each worker writes its health once a second from the start: poll until both have.
    type Health = Record<string, number>;
    type Worker = { id: number; pid: number; health?: Health };
    const workers = async (): Promise<Worker[]> => (await fetchStatsRaw(stats)).json.workers as Worker[];
    while (!(await workers()).every((w) => (w.health?.heap_used ?? 0) > 0)) await new Promise((r) => setTimeout(r, 100));
    // Given up at the end: the gateway then has nothing in flight to wait for as it stops.
    const client = new AbortController();
    void fetch(`${front.url}/spin`, { signal: client.signal }).catch(() => {});
    const m = await outputLine(front.proc, /worker (\d) \(pid: \d+\) is not answering/);
    const stuck = Number(m[1]);
    const doc = await workers();
    for (const w of doc) {
      const h = w.health!;
      assert.deepEqual(Object.keys(h).sort(), [
        'blocked_ms',
        'gc_count',
        'gc_max_pause_ms',
        'gc_total_ms',
        'handles',
        'heap_limit',
        'heap_used',
        'loop_delay_max_ms',
        'loop_delay_p50_ms',
        'loop_delay_p99_ms',
        'loop_utilization',
      ]);
      assert.ok(h.heap_used! > 0 && h.heap_limit! > h.heap_used!, JSON.stringify(h));
      assert.ok(h.loop_utilization! >= 0 && h.loop_utilization! <= 1, JSON.stringify(h));
      assert.ok(h.handles! > 0 && h.loop_delay_p99_ms! >= h.loop_delay_p50_ms! && h.loop_delay_max_ms! >= h.loop_delay_p99_ms!, JSON.stringify(h));
      if (w.id === stuck) assert.ok(h.blocked_ms! >= 500, JSON.stringify(h));
      else assert.equal(h.blocked_ms, 0);
    }
    const top = await promisify(execFile)(process.execPath, [porticoBin, 'top', '--stats', stats, '--once']);
    assert.match(top.stdout, /LAG99\(ms\) +ELU% +HEAP\(MB\) +GC\(ms\) +CURRENT\n/);
    const stuckRow = top.stdout.split('\n').find((l) => l.trim().startsWith(`${stuck} `))!;
    assert.match(stuckRow, / BLOCKED\(\d+\.\ds\) .* GET \/spin \(\d+\.\d s\)$/);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const value = (name: string, id: number): number => Number(new RegExp(`^${name}\\{worker="${id}"\\} (\\S+)$`, 'm').exec(metrics)?.[1]);
    for (const w of doc) {
      assert.ok(value('portico_worker_heap_used_bytes', w.id) > 0);
      assert.ok(value('portico_worker_heap_limit_bytes', w.id) > 0);
      assert.ok(value('portico_worker_active_handles', w.id) > 0);
      for (const name of [
        'event_loop_delay_p50_seconds',
        'event_loop_delay_p99_seconds',
        'event_loop_delay_max_seconds',
        'event_loop_utilization',
        'gc_runs_total',
        'gc_pause_seconds_total',
        'gc_max_pause_seconds',
        'upgraded_connections',
      ]) {
        assert.ok(value(`portico_worker_${name}`, w.id) >= 0, `${name} of worker ${w.id} in:\n${metrics}`);
      }
      assert.equal(value('portico_worker_requests_in_flight', w.id), w.id === stuck ? 1 : 0);
      assert.equal(value('portico_worker_event_loop_blocked_seconds', w.id) > 0, w.id === stuck);
    }
    client.abort();
  });
});
