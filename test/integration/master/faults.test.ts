import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { uwsgiRequest } from '../../../protocol/uwsgi/uwsgi-client.js';
import { outputLine } from '../../../support/child-process.js';
import { startLoad, readStats } from '../../support/master-load.js';
import { fixturesDir } from '../../../support/paths.js';
import { startGateway, startServe, type HttpFront } from '../../support/portico-gateway.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

const APP = join(fixturesDir, 'master-app.mjs');
const tmp = makeTmpDir('master');
after(() => tmp.cleanup());

const running: HttpFront[] = [];
after(async () => {
  await Promise.all(running.map((f) => f.stop()));
});

async function serve(name: string, extra: string[], app = APP): Promise<{ front: HttpFront; stats: string }> {
  const stats = join(tmp.path, `${name}-stats.sock`);
  const front = await startServe(app, ['--workers', '2', '--stats', stats, '--disable-logging', ...extra]);
  running.push(front);
  return { front, stats };
}

describe('master: faults under a steady load', () => {
  it('kill -9 one of two workers: only its in-flight requests fail, a new one is started at once and serves', async () => {
    const { front, stats } = await serve('kill', []);
    const load = startLoad(`${front.url}/`, 1500, 4, 250);
    await load.progress(250);
    const victim = (await readStats(stats)).workers.find((w) => w.id === 1)!;
    process.kill(victim.pid, 'SIGKILL');
    const m = await outputLine(front.proc, /Respawned worker 1 \(new pid: (\d+)\)/);
    const summary = await load.finish();
    assert.equal(summary.sent, 1500);
    // The load has 4 requests in flight at most, so the victim had at most 4.
    assert.ok(summary.failed <= 4, `failed ${summary.failed}: ${JSON.stringify(summary)}`);
    assert.deepEqual(summary.errors, {}, 'every failure is an HTTP answer (502), never a dropped connection');
    assert.equal(summary.ok + (summary.statuses['502'] ?? 0), 1500);
    const after = await readStats(stats);
    const w1 = after.workers.find((w) => w.id === 1)!;
    assert.equal(w1.pid, Number(m[1]));
    assert.equal(w1.respawn_count, 1);
    assert.ok((summary.pids[m[1]!] ?? 0) > 0, 'the new worker served part of the load');
    // At once: a first death gets no backoff (the line would say "trying respawn in N s"). How
    // soon that is in milliseconds is the machine's business, not this test's.
    assert.match(front.proc.output(), /PORTICO_ERR_WORKER_DIED: DAMN ! worker 1 \(pid: \d+\) died, killed by signal SIGKILL :\( trying respawn \.\.\./);
  });

  it('SIGHUP three times in a row: zero failed requests, then the new code is served', async () => {
    const app = join(tmp.path, 'reload-app.mjs');
    copyFileSync(APP, app);
    const { front } = await serve('hup', [], app);
    const load = startLoad(`${front.url}/`, 200_000, 4, 200);
    await load.progress(200);
    writeFileSync(app, readFileSync(app, 'utf8').replace("const VERSION = 'v1'", "const VERSION = 'v2'"));
    // Signals of one kind sent back to back merge into one pending signal: each waits for the
    // master to have taken the one before.
    front.proc.child.kill('SIGHUP');
    await outputLine(front.proc, /chain reload: replacing/);
    front.proc.child.kill('SIGHUP');
    await outputLine(front.proc, /SIGHUP: chain reload[\s\S]*SIGHUP: chain reload/);
    front.proc.child.kill('SIGHUP');
    await outputLine(front.proc, /(SIGHUP: chain reload[\s\S]*){3}/);
    await outputLine(front.proc, /chain reload done/, 30_000);
    const summary = await load.finish(true);
    assert.equal(summary.failed, 0, JSON.stringify(summary));
    assert.ok(summary.ok > 200);
    // Two rounds: the first SIGHUP's, and one more for the two that came during it.
    assert.equal(front.proc.output().match(/chain reload: replacing 2 worker\(s\)/g)?.length, 2);
    const res = await fetch(`${front.url}/`);
    assert.match(await res.text(), /^v2 \d+$/);
  });

  it("portico gateway in front of a master's shared socket: a chain reload under load fails nothing (GOAWAY)", async () => {
    // The workers share one socket, so each native link lands on one of them; a stopping worker
    // says GOAWAY and the gateway sends the streams it never took to a new link (another worker).
    const sock = join(tmp.path, 'shared.sock');
    const master = await startWorker(APP, sock, ['--processes', '2', '--disable-logging']);
    const gateway = await startGateway([`portico://unix:${sock}`]);
    try {
      const load = startLoad(`${gateway.url}/`, 200_000, 8, 200);
      await load.progress(200);
      master.child.kill('SIGHUP');
      await outputLine(master, /chain reload done/, 30_000);
      const summary = await load.finish(true);
      assert.equal(summary.failed, 0, JSON.stringify(summary));
      assert.ok(summary.ok > 200);
      assert.doesNotMatch(gateway.proc.output(), /PORTICO_ERR_/);
    } finally {
      await gateway.stop();
      await master.stop();
    }
  });

  it('--max-requests 50 with 2 workers over 2000 requests: zero failed, restarts counted in stats', async () => {
    const { front, stats } = await serve('maxreq', ['--max-requests', '50']);
    const summary = await startLoad(`${front.url}/`, 2000, 4, 500).finish();
    assert.equal(summary.failed, 0, JSON.stringify(summary));
    assert.equal(summary.ok, 2000);
    const retired = front.proc.output().match(/reached --max-requests/g)?.length ?? 0;
    assert.ok(retired >= 2, `${retired} recycles`);
    const doc = await readStats(stats);
    // Per slot, as uWSGI counts them: a retiring process still stopping is listed beside its
    // replacement, with the same slot's count.
    const perSlot = new Map<number, number>();
    for (const w of doc.workers) perSlot.set(w.id, Math.max(perSlot.get(w.id) ?? 0, w.respawn_count));
    const respawns = [...perSlot.values()].reduce((n, c) => n + c, 0);
    assert.ok(respawns >= retired - 2 && respawns <= retired, `stats count ${respawns} respawns for ${retired} recycles`);
    assert.ok(Object.keys(summary.pids).length >= 3, 'requests were served by replacement workers');
  });

  it('an app that leaks under --reload-on-rss is recycled with zero failed requests', async () => {
    const { front, stats } = await serve('rss', ['--reload-on-rss', '160']);
    // ~2 MB a request, ~50 requests a second per loop: past 160 MB within seconds.
    const load = startLoad(`${front.url}/leak?mb=2&ms=20`, 5000, 2, 50);
    await outputLine(front.proc, /worker \d \(pid: \d+\) uses \d+ MB, over --reload-on-rss 160: recycling it/, 30_000);
    await outputLine(front.proc, /worker \d \(pid: \d+\) exited \(rss\)/);
    const summary = await load.finish(true);
    assert.equal(summary.failed, 0, JSON.stringify(summary));
    const doc = await readStats(stats);
    assert.ok(doc.workers.some((w) => w.respawn_count > 0));
  });

  it('a request that spins forever under --harakiri 2: killed between 2 and 3 s, 504, the other worker serves on', async () => {
    const { front, stats } = await serve('harakiri', ['--harakiri', '2']);
    const load = startLoad(`${front.url}/`, 200_000, 1, 100);
    await load.progress(100);
    const sentAt = Date.now();
    const spin = fetch(`${front.url}/spin`);
    await outputLine(front.proc, /app spinning/);
    // The stats server answers while the worker's event loop is blocked: its watchdog thread does.
    const stuck = (await readStats(stats)).workers.find((w) => w.current_request?.uri === '/spin');
    assert.ok(stuck, 'the stuck worker shows its request');
    assert.equal(stuck.status, 'busy');
    assert.equal(stuck.current_request!.method, 'GET');
    const before = Number(load.proc.output().match(/progress (\d+)\n(?![\s\S]*progress)/)?.[1]);
    const res = await spin;
    const tookMs = Date.now() - sentAt;
    const during = Number(load.proc.output().match(/progress (\d+)\n(?![\s\S]*progress)/)?.[1]);
    assert.equal(res.status, 504);
    assert.ok(tookMs >= 2000 && tookMs < 3000, `answered after ${tookMs} ms:\n${front.proc.output()}`);
    assert.match(front.proc.output(), /PORTICO_ERR_HARAKIRI: HARAKIRI ON WORKER \d \(pid: \d+\): GET \/spin ran 2\.\d s/);
    assert.ok(during > before, 'the load went on while one worker was stuck');
    await outputLine(front.proc, /Respawned worker \d/);
    const summary = await load.finish(true);
    assert.equal(summary.failed, 0, JSON.stringify(summary));
    const doc = await readStats(stats);
    assert.equal(
      doc.workers.reduce((n, w) => n + w.harakiri_count, 0),
      1,
    );
  });
});

describe('master: stop and crash loop', () => {
  it('SIGTERM while a 2-second request is in flight: it completes with 200, exit 0, no socket or pidfile left', async () => {
    const socket = join(tmp.path, 'term.sock');
    const pidfile = join(tmp.path, 'term.pid');
    const worker = await startWorker(APP, socket, ['--processes', '2', '--pidfile', pidfile]);
    await outputLine(worker, /2 worker\(s\) of .* accepting/);
    assert.equal(readFileSync(pidfile, 'utf8').trim(), String(worker.child.pid));
    const slow = uwsgiRequest({ socket, path: '/sleep?ms=2000' });
    await outputLine(worker, /app sleeping 2000 ms/);
    const code = worker.stop('SIGTERM');
    const res = await slow;
    assert.equal(res.status, 200);
    assert.match(res.body.toString(), /^slept \d+$/);
    assert.equal(await code, 0);
    assert.equal(existsSync(socket), false);
    assert.equal(existsSync(pidfile), false);
  });

  it('a worker that keeps dying: respawned at once, then with growing waits, logged loudly, the master stays up', async () => {
    const socket = join(tmp.path, 'loop.sock');
    const worker = await startWorker(APP, socket, ['--processes', '1', '--min-worker-lifetime', '60']);
    await outputLine(worker, /1 worker\(s\) of .* accepting/);
    const crash = async (n: number): Promise<void> => {
      await assert.rejects(uwsgiRequest({ socket, path: '/exit' }));
      await outputLine(worker, new RegExp(`(Respawned worker 1[\\s\\S]*){${n}}`));
    };
    await crash(1);
    assert.match(worker.output(), /DAMN ! worker 1 \(pid: \d+\) died, exit code 3 :\( trying respawn \.\.\./);
    await crash(2);
    assert.match(worker.output(), /trying respawn in 1 s/);
    await crash(3);
    assert.match(worker.output(), /PORTICO_ERR_WORKER_CRASH_LOOP: worker 1 died 3 times in a row within 60 s of starting \(exit code 3\); next start in 2 s/);
    const res = await uwsgiRequest({ socket, path: '/' });
    assert.equal(res.status, 200);
    assert.equal(await worker.stop('SIGTERM'), 0);
  });
});
