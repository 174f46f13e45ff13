// The master's socket listens before any worker is up (master/shared-socket.ts listenEarly),
// as uWSGI's master listens before it forks: a request sent while the app is still loading waits
// in the backlog and is answered, through nginx and directly, instead of "connect() failed (111:
// Connection refused)" and a 502.
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readdirSync, watch } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { uwsgiRequest } from '../../../protocol/uwsgi/uwsgi-client.js';
import { startProcess } from '../../../support/child-process.js';
import { startNginx } from '../../../support/nginx.js';
import { fixturesDir, porticoBin } from '../../../support/paths.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { needPeer, nginxMissing } from '../../support/peers.js';

describe('the socket listens before the workers are up', { timeout: 60_000 }, () => {
  const tmp = makeTmpDir('early-listen');
  after(() => tmp.cleanup());

  it('a request sent while the app still loads is answered once it is up (directly and through nginx)', { skip: needPeer(nginxMissing()) }, async () => {
    const sock = join(tmp.path, 'app.sock');
    // nginx first, as on a server that boots both: its first requests may come before portico is up.
    const nginx = await startNginx(tmp.path, sock);
    const master = startProcess(process.execPath, [porticoBin, 'worker', join(fixturesDir, 'slow-start-app.mjs'), '--socket', sock, '--processes', '1', '--chmod-socket', '666']);
    try {
      // Printed once the socket is bound and listening, before the first worker starts.
      await master.waitFor(/portico master \d+: starting 1 worker\(s\) on /);
      const [direct, viaNginx] = await Promise.all([uwsgiRequest({ socket: sock, path: '/' }), fetch(`${nginx.url}/`)]);
      // The app takes 1.5 s to import: no worker accepted when they were sent.
      assert.equal(direct.status, 200);
      assert.equal(direct.body.toString(), 'up');
      assert.equal(viaNginx.status, 200);
      assert.equal(await viaNginx.text(), 'up');
    } finally {
      await master.stop();
      await nginx.stop();
    }
  });

  it('the socket file appears only once it listens: a client that connects the moment it appears is never refused', async () => {
    const dir = join(tmp.path, 'appear');
    mkdirSync(dir);
    const sock = join(dir, 'app.sock');
    // The first sign of the path, as a supervisor or nginx waiting for it would see it.
    const appeared = new Promise<void>((resolve) => {
      const watcher = watch(dir, () => {
        if (!existsSync(sock)) return;
        watcher.close();
        resolve();
      });
    });
    const master = startProcess(process.execPath, [porticoBin, 'worker', join(fixturesDir, 'slow-start-app.mjs'), '--socket', sock, '--processes', '1']);
    try {
      await appeared;
      const refused = await new Promise<string | null>((resolve) => {
        const c = connect({ path: sock });
        c.once('connect', () => {
          c.destroy();
          resolve(null);
        });
        c.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      });
      assert.equal(refused, null, `connecting as the file appeared: ${refused ?? ''}`);
      // The temporary name it was bound under is gone.
      assert.deepEqual(readdirSync(dir), ['app.sock']);
    } finally {
      await master.stop();
    }
  });
});
