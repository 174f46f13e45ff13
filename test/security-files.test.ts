import assert from 'node:assert/strict';
import { lstatSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { outputLine } from './support/child-process.js';
import { fixturesDir } from './support/paths.js';
import { startWorker } from './support/portico-worker.js';
import { makeTmpDir } from './support/tmp-dir.js';

const tmp = makeTmpDir('security-files');
after(() => tmp.cleanup());
const APP = join(fixturesDir, 'master-app.mjs');

describe('files and privileges', () => {
  it('the master socket gets its mode at bind time: 660 when asked, never wider; the default follows the umask', async () => {
    const asked = join(tmp.path, 'asked.sock');
    const w = await startWorker(APP, asked, ['--processes', '1', '--chmod-socket', '660']);
    assert.equal(lstatSync(asked).mode & 0o777, 0o660);
    assert.equal(await w.stop('SIGTERM'), 0);
    const plain = join(tmp.path, 'plain.sock');
    const p = await startWorker(APP, plain, ['--processes', '1']);
    assert.equal(lstatSync(plain).mode & 0o002, 0, 'not world-writable unless asked');
    assert.equal(await p.stop('SIGTERM'), 0);
  });

  it('a symlink planted at the pidfile path is replaced, never followed', async () => {
    const victim = join(tmp.path, 'victim.txt');
    writeFileSync(victim, 'precious\n');
    const pidfile = join(tmp.path, 'planted.pid');
    symlinkSync(victim, pidfile);
    const w = await startWorker(APP, join(tmp.path, 'pid.sock'), ['--processes', '1', '--pidfile', pidfile]);
    assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
    assert.ok(lstatSync(pidfile).isFile());
    assert.equal(readFileSync(pidfile, 'utf8').trim(), String(w.child.pid));
    assert.equal(await w.stop('SIGTERM'), 0);
  });

  it('started as root without --uid: a warning that says what to do', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, async () => {
    const w = await startWorker(APP, join(tmp.path, 'root.sock'), ['--processes', '1']);
    await outputLine(w, /WARNING: you are running portico as root !!! \(use the --uid flag\)/);
    assert.equal(await w.stop('SIGTERM'), 0);
  });
});
