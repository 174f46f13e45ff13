import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, renameSync, statSync, utimesSync, watch, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { uwsgiRequest } from '../../../protocol/uwsgi/uwsgi-client.js';
import { outputLine, startProcess, type Started } from '../../../support/child-process.js';
import { readStats } from '../../support/master-load.js';
import { fixturesDir, porticoBin } from '../../../support/paths.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { needPeer, rootMissing } from '../../support/peers.js';

const tmp = makeTmpDir('master-reload');
const started: Started[] = [];
after(async () => {
  // A failed test leaves its master running: stop them all (SIGINT: at once).
  await Promise.all(started.map((p) => p.stop('SIGINT')));
  tmp.cleanup();
});

/** A copy of master-app.mjs that the test may rewrite, and a master serving it. */
async function master(name: string, extra: string[]): Promise<{ proc: Started; socket: string; app: string; stats: string }> {
  const app = join(tmp.path, `${name}-app.mjs`);
  copyFileSync(join(fixturesDir, 'master-app.mjs'), app);
  const socket = join(tmp.path, `${name}.sock`);
  const stats = join(tmp.path, `${name}-stats.sock`);
  const proc = await startWorker(app, socket, ['--stats', stats, ...extra]);
  started.push(proc);
  await outputLine(proc, /worker\(s\) of .* accepting/);
  return { proc, socket, app, stats };
}

async function body(socket: string, path = '/'): Promise<string> {
  const res = await uwsgiRequest({ socket, path });
  assert.equal(res.status, 200);
  return res.body.toString();
}

describe('master: reloads, scaling, logs, privileges', () => {
  it('a reload whose new worker cannot import the app stops, and the old workers keep serving', async () => {
    const m = await master('broken', ['--processes', '2']);
    const pidsBefore = (await readStats(m.stats)).workers.map((w) => w.pid).sort();
    writeFileSync(m.app, 'export default {{ syntax error');
    m.proc.child.kill('SIGHUP');
    await outputLine(m.proc, /PORTICO_ERR_RELOAD_FAILED: chain reload stopped/);
    await outputLine(m.proc, /chain reload done: 2 worker\(s\) serving/);
    assert.match(await body(m.socket), /^v1 \d+$/);
    assert.deepEqual((await readStats(m.stats)).workers.map((w) => w.pid).sort(), pidsBefore);
    assert.equal(await m.proc.stop('SIGTERM'), 0);
  });

  it('--touch-reload FILE: touching it chain-reloads onto the new code', async () => {
    const touch = join(tmp.path, 'touch-me');
    writeFileSync(touch, '');
    const m = await master('touch', ['--processes', '1', '--touch-reload', touch]);
    writeFileSync(m.app, readFileSync(m.app, 'utf8').replace("const VERSION = 'v1'", "const VERSION = 'v2'"));
    const later = new Date(statSync(touch).mtimeMs + 5000);
    utimesSync(touch, later, later);
    await outputLine(m.proc, /touched: chain reload[\s\S]*chain reload done/);
    assert.match(await body(m.socket), /^v2 \d+$/);
    assert.equal(await m.proc.stop('SIGTERM'), 0);
  });

  it('SIGTTIN adds a worker, SIGTTOU removes one, never below one', async () => {
    const m = await master('scale', ['--processes', '1']);
    m.proc.child.kill('SIGTTIN');
    await outputLine(m.proc, /spawning worker 2: SIGTTIN\n[\s\S]*fetch app .* on /);
    assert.deepEqual(
      (await readStats(m.stats)).workers.map((w) => w.id),
      [1, 2],
    );
    m.proc.child.kill('SIGTTOU');
    await outputLine(m.proc, /stopping worker 2: SIGTTOU/);
    await outputLine(m.proc, /worker 2 \(pid: \d+\) exited \(scale-down\)/);
    assert.deepEqual(
      (await readStats(m.stats)).workers.map((w) => w.id),
      [1],
    );
    m.proc.child.kill('SIGTTOU');
    await outputLine(m.proc, /SIGTTOU: already at one worker/);
    assert.equal(await m.proc.stop('SIGTERM'), 0);
  });

  it('SIGUSR1 reopens --logto files (logrotate) in the master and the workers', async () => {
    const log = join(tmp.path, 'rotate.log');
    const socket = join(tmp.path, 'rotate.sock');
    const proc = startProcess(process.execPath, [porticoBin, 'worker', join(fixturesDir, 'master-app.mjs'), '--socket', socket, '--processes', '1', '--logto', log]);
    started.push(proc);
    try {
      await fileText(log, /1 worker\(s\) of .* accepting/);
      await body(socket);
      await fileText(log, /GET \/ =>/);
      renameSync(log, `${log}.1`);
      proc.child.kill('SIGUSR1');
      await fileText(log, /./);
      await body(socket, '/?after-rotate');
      await fileText(log, /GET \/\?after-rotate =>/);
      assert.doesNotMatch(readFileSync(`${log}.1`, 'utf8'), /after-rotate/);
    } finally {
      assert.equal(await proc.stop('SIGTERM'), 0);
    }
  });

  it('--uid/--gid as root: sockets bound first and handed over, then every process runs as that user', { skip: needPeer(rootMissing('--uid/--gid')) }, async () => {
    const m = await master('uid', ['--processes', '1', '--uid', 'nobody', '--gid', 'nogroup', '--chmod-socket', '666']);
    const nobody = statSync(m.stats).uid;
    assert.notEqual(nobody, 0);
    assert.equal(statSync(m.socket).uid, nobody);
    const doc = await readStats(m.stats);
    assert.equal(doc.uid, nobody);
    const workerPid = doc.workers[0]!.pid;
    assert.match(readFileSync(`/proc/${workerPid}/status`, 'utf8'), new RegExp(`\\nUid:\\t${nobody}\\t`));
    assert.match(await body(m.socket), /^v1 \d+$/);
    assert.match(m.proc.output(), /dropped privileges to uid \d+/);
    assert.equal(await m.proc.stop('SIGTERM'), 0);
    assert.equal(existsSync(m.socket), false);
  });
});

/** Resolves once `file` exists and its text matches `re` (fs.watch on its directory, bounded). */
function fileText(file: string, re: RegExp, ms = 15_000): Promise<void> {
  const matches = (): boolean => existsSync(file) && re.test(readFileSync(file, 'utf8'));
  if (matches()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const watcher = watch(dirname(file), () => {
      if (!matches()) return;
      clearTimeout(timer);
      watcher.close();
      resolve();
    });
    const timer = setTimeout(() => {
      watcher.close();
      reject(new Error(`${file} never matched ${re}: ${existsSync(file) ? readFileSync(file, 'utf8') : '(missing)'}`));
    }, ms);
  });
}
