import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { outputLine, startProcess } from '../../../support/child-process.js';
import { fixturesDir, porticoBin } from '../../../support/paths.js';
import { startServe } from '../../support/portico-gateway.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { needPeer, rootMissing } from '../../support/peers.js';

const run = promisify(execFile);
const notRoot = needPeer(rootMissing('--uid/--gid and their warnings'));

/** A process's ids as the kernel has them: real uid, gid and supplementary groups. */
function ids(pid: number): { uid: number; gid: number; groups: number[] } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number[] => (new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
  return { uid: field('Uid')[0]!, gid: field('Gid')[0]!, groups: field('Groups') };
}

/** A pid that no process has any more (a child that ran and exited). */
async function deadPid(): Promise<number> {
  const child = startProcess(process.execPath, ['-e', '']);
  await once(child.child, 'exit');
  return child.child.pid!;
}

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

  it('started as root without --uid: a warning that says what to do', { skip: notRoot }, async () => {
    const w = await startWorker(APP, join(tmp.path, 'root.sock'), ['--processes', '1']);
    await outputLine(w, /WARNING: you are running portico as root !!! \(use the --uid flag\)/);
    assert.equal(await w.stop('SIGTERM'), 0);
  });
});

describe('pidfiles, privileges and leftovers', () => {
  const nobody = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
  const nogroup = Number(execFileSync('getent', ['group', 'nogroup'], { encoding: 'utf8' }).split(':')[2]);

  it('--pidfile is written before --uid drops privileges (in a root-only directory), --pidfile2 after, as the new user; no group 0 is kept', { skip: notRoot }, async () => {
    const rootOnly = join(tmp.path, 'run-root');
    mkdirSync(rootOnly);
    chmodSync(rootOnly, 0o755);
    const pidfile = join(rootOnly, 'portico.pid');
    const pidfile2 = join(tmp.path, 'portico2.pid');
    const sock = join(tmp.path, 'uid.sock');
    const w = await startWorker(APP, sock, ['--processes', '1', '--uid', 'nobody', '--gid', 'nogroup', '--pidfile', pidfile, '--pidfile2', pidfile2]);
    try {
      const master = w.child.pid!;
      assert.equal(readFileSync(pidfile, 'utf8').trim(), String(master));
      assert.equal(readFileSync(pidfile2, 'utf8').trim(), String(master));
      assert.equal(statSync(pidfile2).uid, nobody, 'pidfile2 is written by the user the master became');
      const worker = Number(/portico worker (\d+):/.exec(w.output())![1]);
      for (const pid of [master, worker]) assert.deepEqual(ids(pid), { uid: nobody, gid: nogroup, groups: [nogroup] }, `pid ${pid}`);
    } finally {
      assert.equal(await w.stop('SIGTERM'), 0, w.output());
    }
    assert.equal(existsSync(sock), false, 'the socket is removed');
    assert.equal(existsSync(pidfile2), false, 'pidfile2 is removed');
  });

  it('--gid alone is honoured (the group and the supplementary groups), not ignored', { skip: notRoot }, async () => {
    const w = await startWorker(APP, join(tmp.path, 'gid.sock'), ['--gid', 'nogroup']);
    try {
      assert.deepEqual(ids(w.child.pid!), { uid: 0, gid: nogroup, groups: [nogroup] });
    } finally {
      await w.stop('SIGTERM');
    }
  });

  it("a --pidfile holding a running process's pid is refused and left alone; one with a dead pid is replaced", async () => {
    const pidfile = join(tmp.path, 'live.pid');
    writeFileSync(pidfile, `${process.pid}\n`);
    const sock = join(tmp.path, 'second.sock');
    const r = await run(process.execPath, [porticoBin, 'worker', APP, '--socket', sock, '--pidfile', pidfile], { timeout: 10_000, killSignal: 'SIGKILL' }).then(
      () => assert.fail('a second instance started on a live pidfile'),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^portico: PORTICO_ERR_PIDFILE_IN_USE: .*holds pid ${process.pid}, which is running`, 'm'));
    assert.doesNotMatch(r.stderr, /^\s+at /m);
    assert.equal(readFileSync(pidfile, 'utf8'), `${process.pid}\n`, 'the live instance keeps its pidfile');
    assert.equal(existsSync(sock), false, 'nothing was bound');

    writeFileSync(pidfile, `${await deadPid()}\n`);
    const w = await startWorker(APP, sock, ['--processes', '1', '--pidfile', pidfile]);
    assert.equal(readFileSync(pidfile, 'utf8').trim(), String(w.child.pid));
    assert.equal(await w.stop('SIGTERM'), 0);
    assert.equal(existsSync(pidfile), false);
  });

  it("portico serve removes the runtime directory a master killed with -9 left behind, and no live master's", async () => {
    const runDirs = (pid: number): string[] => readdirSync(tmpdir()).filter((d) => d.startsWith(`portico-run-${pid}-`));
    const first = await startServe(APP);
    const killed = first.proc.child.pid!;
    assert.equal(runDirs(killed).length, 1, 'the runtime directory names its master');
    first.proc.child.kill('SIGKILL');
    await first.proc.stop();
    assert.equal(runDirs(killed).length, 1, 'kill -9 leaves it behind');
    // A directory of a master still running (this test process stands in for one) is kept.
    const live = mkdtempSync(join(tmpdir(), `portico-run-${process.pid}-`));
    try {
      const second = await startServe(APP);
      await second.stop();
      assert.deepEqual(runDirs(killed), [], 'the next start removed it');
      assert.ok(existsSync(live));
    } finally {
      rmSync(live, { recursive: true, force: true });
    }
  });
});
