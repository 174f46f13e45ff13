// The app's shutdown hook (worker/app-loader.ts closeHook, worker/worker-server.ts closeApp): it
// runs after the worker's last request, however the worker stops, for every way an app exports one.
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { uwsgiRequest } from '../../../protocol/uwsgi/uwsgi-client.js';
import { startProcess } from '../../../support/child-process.js';
import { fixturesDir, porticoBin } from '../../../support/paths.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

describe('the app shutdown hook', () => {
  const tmp = makeTmpDir('lifecycle');
  after(() => tmp.cleanup());

  it('an exported close(): awaited at SIGTERM, and the worker exits 0', async () => {
    const sock = join(tmp.path, 'close.sock');
    const w = await startWorker(join(fixturesDir, 'close-hook-app.mjs'), sock);
    assert.equal((await uwsgiRequest({ socket: sock, path: '/' })).body.toString(), 'open');
    assert.equal(await w.stop(), 0);
    // The app prints on stdout, the worker logs on stderr through a buffer: their order in the
    // captured output says nothing, so only that it ran, in that process, and the exit are checked.
    assert.match(w.output(), new RegExp(`close hook ran in ${w.child.pid}`));
  });

  it('under the master: a worker retired at --max-requests runs it too', async () => {
    const sock = join(tmp.path, 'retire.sock');
    const w = await startWorker(join(fixturesDir, 'close-hook-app.mjs'), sock, ['--processes', '1', '--max-requests', '2']);
    try {
      const first = /portico worker (\d+): fetch app/.exec(w.output())![1];
      for (let i = 0; i < 2; i++) assert.equal((await uwsgiRequest({ socket: sock, path: '/' })).status, 200);
      await w.waitFor(new RegExp(`close hook ran in ${first}`));
    } finally {
      await w.stop();
    }
  });

  it('a SIGTERM while the app is still importing: the worker finishes its start, then stops gracefully (exit 0, not killed by the signal)', async () => {
    const w = startProcess(process.execPath, [porticoBin, 'worker', join(fixturesDir, 'slow-start-app.mjs'), '--socket', join(tmp.path, 'slow.sock'), '--no-master']);
    await w.waitFor(/slow app: loading in \d+/);
    assert.equal(await w.stop('SIGTERM'), 0);
    assert.equal(w.child.signalCode, null);
    assert.match(w.output(), /SIGTERM: graceful stop/);
  });

  it('under the master: a SIGTERM while its worker is still importing the app: the start finishes, then a graceful stop (exit 0), no worker left', async () => {
    const m = startProcess(process.execPath, [porticoBin, 'worker', join(fixturesDir, 'slow-start-app.mjs'), '--socket', join(tmp.path, 'slow-master.sock'), '--processes', '1']);
    const [, pid] = await m.waitFor(/slow app: loading in (\d+)/);
    assert.equal(await m.stop('SIGTERM'), 0, m.output());
    assert.equal(m.child.signalCode, null);
    assert.match(m.output(), /SIGTERM during the start: graceful stop/);
    // The worker went with it, not left running without its master.
    assert.throws(() => process.kill(Number(pid), 0), /ESRCH/);
  });

  it('a SIGTERM the moment the worker says it listens is a graceful stop, every time (none lost between the start and the stop handler)', async () => {
    for (let i = 0; i < 5; i++) {
      const w = await startWorker(join(fixturesDir, 'close-hook-app.mjs'), join(tmp.path, `quick-${i}.sock`));
      assert.equal(await w.stop('SIGTERM'), 0, w.output());
      assert.match(w.output(), /SIGTERM: graceful stop/);
    }
  });

  it("a fastify instance: its onClose hooks; an http.Server: its 'close' listeners", async () => {
    for (const [app, line] of [
      ['fastify-app.mjs', 'fastify onClose ran in'],
      ['server-close-app.mjs', 'server close listener ran in'],
    ] as const) {
      const sock = join(tmp.path, `${app}.sock`);
      const w = await startWorker(join(fixturesDir, app), sock);
      // Answered once: the worker is past its start and has its signal handlers.
      await uwsgiRequest({ socket: sock, path: '/' });
      assert.equal(await w.stop(), 0);
      assert.match(w.output(), new RegExp(`${line} ${w.child.pid}`));
    }
  });
});
