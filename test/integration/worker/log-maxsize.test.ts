// --log-maxsize (master/master-runtime.ts rotateBySize), as uWSGI's log-maxsize: the
// --logto file is renamed FILE.UNIXTIME once it passes the size, every process reopens FILE, and
// no request line is lost across the two.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, watch } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { uwsgiRequest } from '../../../protocol/uwsgi/uwsgi-client.js';
import { startProcess } from '../../../support/child-process.js';
import { fixturesDir, porticoBin } from '../../../support/paths.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

describe('--log-maxsize', { timeout: 60_000 }, () => {
  const tmp = makeTmpDir('log-maxsize');
  after(() => tmp.cleanup());

  it('rotates the --logto file past the size; the workers reopen it; every request line is in one of the two', async () => {
    const dir = join(tmp.path, 'logs');
    mkdirSync(dir);
    const log = join(dir, 'app.log');
    const sock = join(tmp.path, 'app.sock');
    // Everything goes to the file, the ready line too: it is read there as the file changes.
    const ready = new Promise<void>((resolve) => {
      const isReady = (): boolean => existsSync(log) && /accepting on/.test(readFileSync(log, 'utf8'));
      const w = watch(dir, () => {
        if (!isReady()) return;
        w.close();
        resolve();
      });
    });
    const master = startProcess(process.execPath, [porticoBin, 'worker', join(fixturesDir, 'fetch-app.mjs'), '--socket', sock, '--processes', '1', '--logto', log, '--log-maxsize', '2000']);
    let running = true;
    const died = new Promise<void>((_, reject) => master.child.once('exit', () => running && reject(new Error(`portico exited before it was ready: ${master.output()}`))));
    await Promise.race([ready, died]);
    running = false;
    const rotated = new Promise<string>((resolve) => {
      const w = watch(dir, (_event, name) => {
        if (name && /^app\.log\.\d+$/.test(name)) {
          w.close();
          resolve(join(dir, name));
        }
      });
    });
    const first = 30;
    for (let i = 0; i < first; i++) assert.equal((await uwsgiRequest({ socket: sock, path: `/r${i}` })).status, 200);
    const old = await rotated;
    const second = 10;
    for (let i = first; i < first + second; i++) await uwsgiRequest({ socket: sock, path: `/r${i}` });
    assert.equal(await master.stop(), 0);
    const files = readdirSync(dir).filter((f) => f.startsWith('app.log'));
    assert.equal(files.length, 2, files.join(', '));
    const current = readFileSync(log, 'utf8');
    assert.match(current, /--log-maxsize: .*app\.log passed 2000 bytes: rotated to .*app\.log\.\d+/);
    // The worker reopened the file: its lines after the rotation are in the new one.
    assert.match(current, new RegExp(`GET /r${first + second - 1} `));
    const lines = (readFileSync(old, 'utf8') + current).split('\n').filter((l) => / GET \/r\d+ => /.test(l));
    assert.equal(lines.length, first + second, 'every request line is in one of the two files');
  });

  it('refused at start without --logto, or with a size that is not a number of bytes', () => {
    for (const [args, why] of [
      [['--log-maxsize', '1000'], /--log-maxsize rotates log files: give --logto FILE, --logger file:PATH or --req-logger file:PATH too/],
      [['--logto', join(tmp.path, 'x.log'), '--log-maxsize', '1MB'], /--log-maxsize must be a number of bytes/],
    ] as const) {
      const r = spawnSync(process.execPath, [porticoBin, 'worker', join(fixturesDir, 'fetch-app.mjs'), '--socket', join(tmp.path, 'never.sock'), ...args], { encoding: 'utf8' });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /PORTICO_ERR_INVALID_OPTION/);
      assert.match(r.stderr, why);
    }
  });
});
