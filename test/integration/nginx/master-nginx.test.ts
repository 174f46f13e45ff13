import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { outputLine } from '../../../support/child-process.js';
import { startNginx } from '../../../support/nginx.js';
import { fixturesDir } from '../../../support/paths.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { needPeer, nginxMissing } from '../../support/peers.js';

const tmp = makeTmpDir('master-nginx');
after(() => tmp.cleanup());

describe('master behind real nginx', { skip: needPeer(nginxMissing()) }, () => {
  it("uwsgi_pass to the one socket path reaches all of the master's workers", async () => {
    const socket = join(tmp.path, 'app.sock');
    const worker = await startWorker(join(fixturesDir, 'master-app.mjs'), socket, ['--processes', '2', '--chmod-socket', '666', '--disable-logging']);
    const nginx = await startNginx(tmp.path, socket);
    try {
      await outputLine(worker, /2 worker\(s\) of .* accepting/);
      const pids = [...worker.output().matchAll(/portico worker (\d+): fetch app/g)].map((x) => x[1]!);
      assert.equal(pids.length, 2);
      // Requests that overlap (each sleeps) keep one worker busy, so the kernel hands the next
      // connection to whichever worker waits in accept(): both get some.
      const seen = new Set<string>();
      for (let round = 0; round < 10 && seen.size < 2; round++) {
        const bodies = await Promise.all(
          Array.from({ length: 8 }, async () => {
            const res = await fetch(`${nginx.url}/sleep?ms=20`);
            assert.equal(res.status, 200);
            return res.text();
          }),
        );
        for (const b of bodies) seen.add(b.split(' ')[1]!);
      }
      assert.deepEqual([...seen].sort(), [...pids].sort());
    } finally {
      await nginx.stop();
      assert.equal(await worker.stop('SIGTERM'), 0);
    }
  });
});
