import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { uwsgiRequest } from '../../../protocol/uwsgi/uwsgi-client.js';
import type { Started } from '../../../support/child-process.js';
import { freePort } from '../../../support/free-port.js';
import { fixturesDir } from '../../../support/paths.js';
import { outputLine, startServe, type HttpFront } from '../../support/portico-gateway.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

/** `name{labels}` → value, from Prometheus text. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

async function scrape(base: string): Promise<Map<string, number>> {
  const res = await fetch(`${base}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parseMetrics(await res.text());
}

function byClass(m: Map<string, number>, prefix: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of ['1xx', '2xx', '3xx', '4xx', '5xx']) out[c] = m.get(`${prefix}_requests_total{status_class="${c}"}`) ?? NaN;
  return out;
}

/** The histogram agrees with the counters: _count and the +Inf bucket are the total. */
function assertHistogram(m: Map<string, number>, prefix: string, total: number): void {
  assert.equal(m.get(`${prefix}_request_duration_seconds_count`), total);
  assert.equal(m.get(`${prefix}_request_duration_seconds_bucket{le="+Inf"}`), total);
  assert.ok((m.get(`${prefix}_request_duration_seconds_bucket{le="10"}`) ?? -1) <= total);
  assert.ok((m.get(`${prefix}_request_duration_seconds_sum`) ?? -1) > 0);
  assert.equal(m.get(`${prefix}_requests_in_flight`), 0);
}

async function assertProbes(base: string): Promise<void> {
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
  const ready = await fetch(`${base}/readyz`);
  assert.equal(ready.status, 200);
  assert.equal(await ready.text(), 'ready\n');
  assert.equal((await fetch(`${base}/nope`)).status, 404);
}

/** SIGKILLs the worker that logged `pid` and waits for the master to report its replacement. */
async function killWorker(proc: Started): Promise<void> {
  const pid = Number((await outputLine(proc, /portico worker (\d+): \w+ app /))[1]);
  process.kill(pid, 'SIGKILL');
  await outputLine(proc, /Respawned worker \d+ \(new pid: \d+\)/);
}

describe('--metrics under portico serve', () => {
  let front: HttpFront;
  let base: string;
  const expected = { '1xx': 0, '2xx': 6, '3xx': 2, '4xx': 0, '5xx': 2 };

  before(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    front = await startServe(join(fixturesDir, 'fetch-app.mjs'), ['--workers', '2', '--metrics', `127.0.0.1:${port}`]);
    await outputLine(front.proc, /metrics server on 127\.0\.0\.1:\d+/);
  });
  after(() => front?.stop());

  it('counts every forwarded request by status class in the workers and in the gateway', async () => {
    const paths = ['/a', '/b', '/c', '/d', '/e', '/empty', '/cookies', '/cookies', '/throw', '/throw'];
    for (const p of paths) {
      const res = await fetch(front.url + p, { redirect: 'manual' });
      await res.arrayBuffer();
    }
    const m = await scrape(base);
    assert.deepEqual(byClass(m, 'portico'), expected);
    assert.deepEqual(byClass(m, 'portico_gateway'), expected);
    assertHistogram(m, 'portico', paths.length);
    assertHistogram(m, 'portico_gateway', paths.length);
    assert.equal(m.get('portico_workers_alive'), 2);
    assert.equal(m.get('portico_workers_ready'), 2);
    assert.equal(m.get('portico_workers_unanswered'), 0);
    assert.equal(m.get('portico_gateway_queue_depth'), 0);
    assert.equal(m.get('portico_worker_restarts_total{reason="crash"}'), 0);
    await assertProbes(base);
  });

  it('counts a killed worker as a crash restart and keeps its requests in the totals', async () => {
    await killWorker(front.proc);
    const m = await scrape(base);
    assert.equal(m.get('portico_worker_restarts_total{reason="crash"}'), 1);
    for (const reason of ['harakiri', 'max-requests', 'rss', 'reload']) assert.equal(m.get(`portico_worker_restarts_total{reason="${reason}"}`), 0);
    assert.deepEqual(byClass(m, 'portico'), expected);
    assert.equal(m.get('portico_workers_alive'), 2);
    await assertProbes(base);
  });
});

describe('--metrics under portico worker --processes 2', () => {
  const tmp = makeTmpDir('metrics');
  const socket = join(tmp.path, 'w.sock');
  let proc: Started;
  let base: string;

  before(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // stream-app answers 404 for any path but its two routes.
    proc = await startWorker(join(fixturesDir, 'stream-app.mjs'), socket, ['--processes', '2', '--metrics', `127.0.0.1:${port}`]);
    await outputLine(proc, /metrics server on 127\.0\.0\.1:\d+/);
  });
  after(async () => {
    await proc?.stop();
    tmp.cleanup();
  });

  it('sums both workers, 404s included, and survives a worker crash', async () => {
    for (let i = 0; i < 4; i++) assert.equal((await uwsgiRequest({ socket, method: 'POST', path: '/count', body: 'abc' })).status, 200);
    for (let i = 0; i < 3; i++) assert.equal((await uwsgiRequest({ socket, path: `/missing-${i}` })).status, 404);
    const expected = { '1xx': 0, '2xx': 4, '3xx': 0, '4xx': 3, '5xx': 0 };
    let m = await scrape(base);
    assert.deepEqual(byClass(m, 'portico'), expected);
    assertHistogram(m, 'portico', 7);
    assert.equal(m.get('portico_workers_alive'), 2);
    // No gateway in this mode.
    assert.equal(m.get('portico_gateway_queue_depth'), undefined);
    await assertProbes(base);

    await killWorker(proc);
    m = await scrape(base);
    assert.equal(m.get('portico_worker_restarts_total{reason="crash"}'), 1);
    assert.deepEqual(byClass(m, 'portico'), expected);
    await assertProbes(base);
  });
});
