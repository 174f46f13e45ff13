// portico serve --gateway-processes 2 (issue 19 item 2): two gateway processes accept from one
// HTTP socket the master bound, each linked to every worker. Which process accepts a connection is
// the kernel's choice, so a test that must reach one of them stops the other (SIGSTOP): the shared
// queue then has one taker.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { fetchStats } from '../../../master/stats-client.js';
import { outputLine, startProcess } from '../../../support/child-process.js';
import { freePort } from '../../../support/free-port.js';
import { fixturesDir, porticoBin } from '../../../support/paths.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { startLoad } from '../../support/master-load.js';
import { startServe, type HttpFront } from '../../support/portico-gateway.js';

const run = promisify(execFile);

const tmp = makeTmpDir('gateway-processes');
const fronts: HttpFront[] = [];
after(async () => {
  await Promise.all(fronts.map((f) => f.proc.stop('SIGINT')));
  tmp.cleanup();
});

const HOLD = join(fixturesDir, 'hold-app.mjs');
const MASTER_APP = join(fixturesDir, 'master-app.mjs');

async function serve(app: string, extra: string[], env?: NodeJS.ProcessEnv): Promise<HttpFront> {
  const f = await startServe(app, ['--gateway-processes', '2', ...extra], env);
  fronts.push(f);
  return f;
}

/** The pids of the gateway processes started so far, in order (each logs its listening line). */
function gatewayPids(f: HttpFront): number[] {
  return [...f.proc.output().matchAll(/portico gateway (\d+): http on /g)].map((m) => Number(m[1]));
}

/** Runs `fn` while every gateway process but `pid` is stopped: the shared queue has one taker. */
async function only<T>(f: HttpFront, pid: number, fn: () => Promise<T>): Promise<T> {
  const others = gatewayPids(f).filter((p) => p !== pid && alive(p));
  for (const p of others) process.kill(p, 'SIGSTOP');
  try {
    return await fn();
  } finally {
    for (const p of others) process.kill(p, 'SIGCONT');
  }
}

function alive(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

/** One request on a connection of its own (no pooled connection to a stopped process). */
function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A release file for hold-app.mjs, absent until `release()`. */
function holdGate(name: string): { env: NodeJS.ProcessEnv; release(): void; reset(): void } {
  const dir = join(tmp.path, name);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'release');
  return { env: { ...process.env, HOLD_RELEASE: file }, release: () => writeFileSync(file, ''), reset: () => rmSync(file, { force: true }) };
}

/** Lines "holding PID" counted so far. */
function holding(f: HttpFront): number {
  return f.proc.output().match(/^holding \d+$/gm)?.length ?? 0;
}

async function holdingAtLeast(f: HttpFront, n: number): Promise<void> {
  await outputLine(f.proc, new RegExp(`(?:^holding \\d+\\n[\\s\\S]*){${n}}`, 'm'));
}

describe('portico serve --gateway-processes 2', () => {
  test('each gateway process serves on the shared port and reaches every worker', async () => {
    const gate = holdGate('spread');
    const f = await serve(HOLD, ['--workers', '2'], gate.env);
    const pids = gatewayPids(f);
    assert.equal(pids.length, 2);
    assert.notEqual(pids[0], pids[1]);
    for (const pid of pids) {
      gate.reset();
      const before = holding(f);
      const answers = await only(f, pid, async () => {
        // Two requests at once through one gateway: the one with fewer in flight is the other worker.
        const both = [get(f.url), get(f.url)];
        await holdingAtLeast(f, before + 2);
        gate.release();
        return Promise.all(both);
      });
      assert.deepEqual(
        answers.map((a) => a.status),
        [200, 200],
      );
      assert.equal(new Set(answers.map((a) => a.body)).size, 2, `gateway ${pid} reached both workers`);
    }
    assert.equal(await f.proc.stop('SIGTERM'), 0, f.proc.output());
  });

  test('a gateway process killed with SIGKILL is respawned; the other serves meanwhile', async () => {
    const f = await serve(MASTER_APP, ['--workers', '1']);
    const [first, second] = gatewayPids(f) as [number, number];
    process.kill(first, 'SIGKILL');
    // The survivor takes every connection while the master starts a new one.
    const meanwhile = await Promise.all(Array.from({ length: 10 }, () => get(f.url)));
    assert.deepEqual(
      meanwhile.map((r) => r.status),
      Array<number>(10).fill(200),
    );
    const died = await outputLine(f.proc, new RegExp(`PORTICO_ERR_GATEWAY_DIED: gateway (\\d+) \\(pid: ${first}\\) died, killed by signal SIGKILL`));
    const m = await outputLine(f.proc, new RegExp(`Respawned gateway ${died[1]!} \\(new pid: (\\d+)\\)`));
    const fresh = Number(m[1]);
    assert.ok(!alive(first));
    // The new one serves alone.
    const answer = await only(f, fresh, () => get(f.url));
    assert.equal(answer.status, 200);
    assert.ok(alive(second));
    assert.equal(await f.proc.stop('SIGTERM'), 0, f.proc.output());
  });

  test('a chain reload (SIGHUP) replaces the workers, then each gateway process, and drops no request', async () => {
    const f = await serve(MASTER_APP, ['--workers', '2']);
    const before = gatewayPids(f);
    const load = startLoad(f.url, 100_000, 8, 1);
    await load.progress(200);
    f.proc.child.kill('SIGHUP');
    await outputLine(f.proc, /gateway 2 replaced \(new pid: \d+/);
    await outputLine(f.proc, /chain reload done: 2 worker\(s\) serving/);
    const summary = await load.finish(true);
    assert.ok(summary.sent > 200);
    assert.equal(summary.failed, 0, JSON.stringify(summary));
    assert.deepEqual(summary.errors, {});
    const after = gatewayPids(f).filter(alive);
    assert.equal(after.length, 2);
    for (const pid of before) assert.ok(!after.includes(pid), `gateway ${pid} was replaced`);
    assert.equal(await f.proc.stop('SIGTERM'), 0, f.proc.output());
  });

  test('WebSockets through either gateway process: handed to a worker via the master, echoed', async () => {
    const f = await serve(join(fixturesDir, 'ws-server-app.mjs'), ['--workers', '2', '--kind', 'node']);
    for (const pid of gatewayPids(f)) {
      const ws = await only(f, pid, async () => {
        const ws = new WebSocket(`${f.url.replace(/^http/, 'ws')}/via-${pid}`);
        const hello = once(ws, 'message');
        await once(ws, 'open');
        assert.equal(String((await hello)[0]), `hello /via-${pid}`);
        return ws;
      });
      // The connection is the worker's: the gateway that took it may be stopped, it still echoes.
      await only(f, 0, async () => {
        const echo = once(ws, 'message');
        ws.send('ping');
        assert.equal(String((await echo)[0]), 'ping');
      });
      ws.close();
      await once(ws, 'close');
    }
    assert.equal(await f.proc.stop('SIGTERM'), 0, f.proc.output());
  });

  test('--stats lists the workers and the gateway processes, --metrics sums their requests', async () => {
    const stats = join(tmp.path, 'stats.sock');
    const metricsPort = await freePort();
    const f = await serve(MASTER_APP, ['--workers', '2', '--stats', stats, '--metrics', `127.0.0.1:${metricsPort}`]);
    const [a, b] = gatewayPids(f) as [number, number];
    for (const pid of [a, b])
      await only(f, pid, async () => {
        for (let i = 0; i < 3; i++) assert.equal((await get(f.url)).status, 200);
      });
    const doc = await fetchStats(stats, 5000);
    assert.equal(doc.workers.length, 2);
    assert.equal(
      doc.workers.reduce((n, w) => n + w.requests, 0),
      6,
    );
    assert.equal(doc.sockets[0]?.name, f.url);
    assert.deepEqual(doc.gateways?.map((g) => [g.pid, g.status, g.respawns]).sort(), [a, b].map((pid) => [pid, 'serving', 0]).sort());
    // portico top shows them too, one line each.
    const { stdout } = await run(process.execPath, [porticoBin, 'top', '--stats', stats, '--once'], { timeout: 20_000 });
    for (const pid of [a, b]) assert.match(stdout, new RegExp(`^gateway \\d: pid ${pid} serving, queue \\d+, 0 respawn\\(s\\)$`, 'm'));
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.match(text, /^portico_gateway_requests_total\{status_class="2xx"\} 6$/m);
    assert.equal(await f.proc.stop('SIGTERM'), 0, f.proc.output());
  });

  test("--static, the queue's 503 and --max-connections hold in each gateway process", async () => {
    const gate = holdGate('limits');
    const dir = join(tmp.path, 'static');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'a.txt'), 'static a\n');
    const f = await serve(HOLD, ['--workers', '1', '--static', `/s=${dir}`, '--upstream-concurrency', '1', '--listen', '0', '--max-connections', '2'], gate.env);
    for (const pid of gatewayPids(f)) {
      gate.reset();
      await only(f, pid, async () => {
        const file = await get(`${f.url}/s/a.txt`);
        assert.equal(file.body, 'static a\n');
        // --max-connections 2, both held by silent connections: a new client is served, the oldest silent one closed.
        const silent = [connect(f.port, '127.0.0.1'), connect(f.port, '127.0.0.1')];
        await Promise.all(silent.map((c) => once(c, 'connect')));
        const closed = once(silent[0]!, 'close');
        assert.equal((await get(`${f.url}/s/a.txt`)).status, 200);
        await closed;
        silent[1]!.destroy();
        // One request holds the only upstream slot and the queue is empty: the next is refused.
        const before = holding(f);
        const held = get(f.url);
        await holdingAtLeast(f, before + 1);
        const refused = await get(f.url);
        assert.equal(refused.status, 503);
        assert.equal(refused.body, '503 PORTICO_ERR_QUEUE_FULL\n');
        assert.ok(refused.headers['retry-after']);
        gate.release();
        assert.equal((await held).status, 200);
      });
    }
    assert.equal(await f.proc.stop('SIGTERM'), 0, f.proc.output());
  });

  test('SIGTERM: the gateway processes finish their in-flight requests, then all exit', async () => {
    const gate = holdGate('term');
    const f = await serve(HOLD, ['--workers', '1'], gate.env);
    const inFlight = [get(f.url), get(f.url)];
    await holdingAtLeast(f, 2);
    f.proc.child.kill('SIGTERM');
    await outputLine(f.proc, /SIGTERM: graceful stop/);
    gate.release();
    assert.deepEqual(
      (await Promise.all(inFlight)).map((r) => r.status),
      [200, 200],
    );
    assert.equal(await f.proc.stop('SIGTERM'), 0, f.proc.output());
    for (const pid of gatewayPids(f)) assert.ok(!alive(pid));
  });

  test('--gateway-processes outside 0 to 64 is refused with one line before anything binds', async () => {
    const p = startProcess(process.execPath, [porticoBin, 'serve', MASTER_APP, '--http', '127.0.0.1:0', '--gateway-processes', '65']);
    await p.waitFor(/PORTICO_ERR_INVALID_OPTION: invalid option: --gateway-processes must be 0 to 64, got 65\n/);
    assert.equal(p.child.exitCode ?? (await once(p.child, 'exit'))[0], 1);
    assert.doesNotMatch(p.output(), /\n\s+at /);
  });

  test('--cheap (and PORTICO_GATEWAY_PROCESSES=2): the first request through a gateway process starts the workers', async () => {
    const f = await startServe(MASTER_APP, ['--workers', '2', '--cheap'], { ...process.env, PORTICO_GATEWAY_PROCESSES: '2' });
    fronts.push(f);
    assert.equal(gatewayPids(f).length, 2);
    assert.match(f.proc.output(), /0 worker\(s\) of .* \(2 gateway processes\)/);
    const answer = await get(f.url);
    assert.equal(answer.status, 200);
    assert.match(answer.body, /^v1 \d+$/);
    assert.equal(await f.proc.stop('SIGTERM'), 0, f.proc.output());
  });
});
