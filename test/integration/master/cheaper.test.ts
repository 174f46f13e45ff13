import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { uwsgiRequest } from '../../../protocol/uwsgi/uwsgi-client.js';
import { CheaperPolicy, type CheaperSettings, type WorkerLoad } from '../../../master/cheaper.js';
import { outputLine, type Started } from '../../../support/child-process.js';
import { readStats, startLoad } from '../../support/master-load.js';
import { freePort } from '../../../support/free-port.js';
import { fixturesDir } from '../../../support/paths.js';
import { startServe, type HttpFront } from '../../support/portico-gateway.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

const APP = join(fixturesDir, 'master-app.mjs');
const tmp = makeTmpDir('cheaper');
const running: Array<Started | HttpFront> = [];
after(async () => {
  await Promise.all(running.map((p) => ('proc' in p ? p.stop() : p.stop('SIGINT'))));
  tmp.cleanup();
});

const SETTINGS: CheaperSettings = { min: 1, max: 3, step: 1, overloadMs: 3000, idleMs: 10_000, rssSoftBytes: 0, rssHardBytes: 0 };
const load = (id: number, inFlight: number, requests = 0, rss = 50 << 20): WorkerLoad => ({ id, inFlight, requests, rss });

describe('cheaper: the decisions', () => {
  it('grows by --cheaper-step once all workers are busy for --cheaper-overload, never past --processes', () => {
    const p = new CheaperPolicy(SETTINGS);
    assert.deepEqual(p.decide(0, [load(1, 1)], 0), { kind: 'none' });
    assert.deepEqual(p.decide(2000, [load(1, 2)], 0), { kind: 'none' });
    assert.deepEqual(p.decide(3000, [load(1, 1)], 0), { kind: 'spawn', count: 1, reason: '1/1 busy for 3 s' });
    // The overload clock starts again after a spawn.
    assert.deepEqual(p.decide(4000, [load(1, 1), load(2, 1)], 0), { kind: 'none' });
    assert.deepEqual(p.decide(7000, [load(1, 1), load(2, 1)], 0), { kind: 'spawn', count: 1, reason: '2/2 busy for 3 s' });
    assert.deepEqual(p.decide(20_000, [load(1, 1), load(2, 1), load(3, 1)], 0), { kind: 'none' }, 'at --processes');
  });

  it('requests waiting count as overload even when a worker looks idle', () => {
    const p = new CheaperPolicy(SETTINGS);
    p.decide(0, [load(1, 0)], 2);
    assert.deepEqual(p.decide(3000, [load(1, 0)], 2), { kind: 'spawn', count: 1, reason: '0/1 busy and 2 waiting for 3 s' });
  });

  it('stops the highest idle worker after --cheaper-idle, never below --cheaper', () => {
    const p = new CheaperPolicy(SETTINGS);
    p.decide(0, [load(1, 0, 5), load(2, 0, 5), load(3, 1, 5)], 0);
    assert.deepEqual(p.decide(9000, [load(1, 0, 5), load(2, 0, 5), load(3, 0, 6)], 0), { kind: 'none' });
    assert.deepEqual(p.decide(10_000, [load(1, 0, 5), load(2, 0, 5), load(3, 0, 6)], 0), { kind: 'stop', id: 2, why: 'cheaper-idle', reason: 'idle 10 s' });
    assert.deepEqual(p.decide(30_000, [load(1, 0, 5)], 0), { kind: 'none' }, 'at --cheaper');
  });

  it('RSS: no new worker over the soft limit, one fewer over the hard limit', () => {
    const soft = new CheaperPolicy({ ...SETTINGS, rssSoftBytes: 80 << 20 });
    soft.decide(0, [load(1, 1, 0, 100 << 20)], 0);
    assert.deepEqual(soft.decide(5000, [load(1, 1, 0, 100 << 20)], 0), { kind: 'none' });
    const hard = new CheaperPolicy({ ...SETTINGS, rssHardBytes: 150 << 20 });
    assert.deepEqual(hard.decide(0, [load(1, 1, 0, 100 << 20), load(2, 1, 0, 100 << 20)], 0), {
      kind: 'stop',
      id: 2,
      why: 'cheaper-rss',
      reason: 'workers use 200 MB, over --cheaper-rss-limit-hard 150',
    });
  });
});

describe('cheap and cheaper: real masters', () => {
  it('portico worker --cheap: no worker until the first request, which is held, not refused', async () => {
    const socket = join(tmp.path, 'cheap.sock');
    const stats = join(tmp.path, 'cheap-stats.sock');
    const proc = await startWorker(APP, socket, ['--cheap', '--processes', '1', '--stats', stats]);
    running.push(proc);
    assert.doesNotMatch(proc.output(), /portico worker \d+: fetch app/, 'no worker before the first request');
    assert.equal((await readStats(stats)).workers[0]!.status, 'cheap');
    const res = await uwsgiRequest({ socket, path: '/' });
    assert.equal(res.status, 200);
    assert.match(res.body.toString(), /^v1 \d+$/);
    assert.match(proc.output(), /spawning worker 1: first request \(--cheap\)/);
    assert.equal((await uwsgiRequest({ socket, path: '/' })).status, 200);
    assert.equal(await proc.stop('SIGTERM'), 0);
  });

  it('portico serve --cheap: the first HTTP request starts the workers and gets its answer', async () => {
    const front = await startServe(APP, ['--cheap', '--workers', '1']);
    running.push(front);
    assert.doesNotMatch(front.proc.output(), /portico worker \d+: fetch app/);
    const res = await fetch(`${front.url}/`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /^v1 \d+$/);
    await front.stop();
  });

  it('--cheaper 1 --processes 3: a ramp of load grows the pool to 3 and idle shrinks it back to 1, no request failing', async () => {
    const stats = join(tmp.path, 'ramp-stats.sock');
    const metricsPort = await freePort();
    const front = await startServe(APP, [
      '--workers',
      '3',
      '--cheaper',
      '1',
      '--cheaper-overload',
      '1',
      '--cheaper-idle',
      '2',
      '--stats',
      stats,
      '--metrics',
      `127.0.0.1:${metricsPort}`,
      '--disable-logging',
    ]);
    running.push(front);
    assert.equal((await readStats(stats)).workers.filter((w) => w.status !== 'cheap').length, 1);
    // Six slow requests at a time keep every worker busy.
    const ramp = startLoad(`${front.url}/sleep?ms=100`, 100_000, 6, 10);
    await outputLine(front.proc, /spawning worker 2: \d\/1 busy for \d s/, 20_000);
    await outputLine(front.proc, /spawning worker 3: \d\/2 busy for \d s/, 20_000);
    const summary = await ramp.finish(true);
    assert.equal(summary.failed, 0, JSON.stringify(summary));
    await outputLine(front.proc, /stopping worker 3: idle \d s/, 20_000);
    await outputLine(front.proc, /stopping worker 2: idle \d s/, 20_000);
    await outputLine(front.proc, /worker 2 \(pid: \d+\) exited \(cheaper-idle\)/);
    const doc = await readStats(stats);
    assert.deepEqual(
      doc.workers.map((w) => w.status === 'cheap'),
      [false, true, true],
    );
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.match(metrics, /portico_worker_spawns_total\{reason="cheaper"\} 2\n/);
    assert.match(metrics, /portico_worker_restarts_total\{reason="cheaper-idle"\} 2\n/);
    assert.equal((await fetch(`${front.url}/`)).status, 200);
    await front.stop();
  });
});
