import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startNginx } from '../../../support/nginx.js';
import { fixturesDir } from '../../../support/paths.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { needPeer, nginxMissing, rootMissing } from '../../support/peers.js';

// The most common failure of this stack (seed 000/002): nginx runs as another user and cannot open
// the socket. nginx's workers run as nobody only when nginx starts as root, as CI does.
describe('nginx cannot open a socket without --chmod-socket', { skip: needPeer(nginxMissing() || rootMissing('nginx drops to another user only when started as root')) }, () => {
  const tmp = makeTmpDir('perm');
  after(() => tmp.cleanup());

  it('gets 502 with "Permission denied", and the worker said at start how to fix it', async () => {
    const sock = join(tmp.path, 'private.sock');
    const worker = await startWorker(join(fixturesDir, 'behaviour-app.mjs'), sock);
    const nginx = await startNginx(tmp.path, sock);
    try {
      const res = await fetch(`${nginx.url}/`);
      assert.equal(res.status, 502);
      await nginx.proc.waitFor(/connect\(\) to unix:\S+private\.sock failed \(13: Permission denied\)/);
      assert.match(worker.output(), /start portico with --chmod-socket 666 \(or 660 and a group nginx is in\)/);
    } finally {
      await nginx.stop();
      await worker.stop();
    }
  });
});
