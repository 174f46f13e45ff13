// The programmatic API (cli/api.ts), imported as a user imports it: `import { serve, worker } from 'portico'`.
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { serve, uwsgiRequest, worker } from 'portico';
import { freePort } from '../../../support/free-port.js';
import { fixturesDir } from '../../../support/paths.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

describe("import { serve, worker } from 'portico'", { timeout: 60_000 }, () => {
  const tmp = makeTmpDir('api');
  after(() => tmp.cleanup());

  it('serve(): the whole stack, answering on its URL; close() stops it gracefully', async () => {
    const port = await freePort();
    const stack = await serve({ app: join(fixturesDir, 'url-app.mjs'), http: `127.0.0.1:${port}`, processes: 1 });
    assert.equal(stack.address, `http://127.0.0.1:${port}`);
    const res = await fetch(`${stack.address}/from/code?x=1`);
    assert.deepEqual(await res.json(), { pathname: '/from/code', search: '?x=1', host: `127.0.0.1:${port}` });
    assert.equal(await stack.close(), 0);
  });

  it('worker(): a master and its workers on a uwsgi socket, options in camelCase', async () => {
    const socket = join(tmp.path, 'api.sock');
    const stack = await worker({ app: join(fixturesDir, 'fetch-app.mjs'), socket, processes: 2, maxRequests: 100 });
    assert.equal(stack.address, socket);
    const res = await uwsgiRequest({ socket, method: 'POST', path: '/echo', headers: [['Content-Type', 'text/plain']], body: 'hi' });
    assert.equal(res.body.toString(), 'hi');
    assert.equal(await stack.close(), 0);
  });

  it('a start that fails rejects with its coded line', async () => {
    await assert.rejects(worker({ app: join(fixturesDir, 'fetch-app.mjs'), socket: join(tmp.path, 'x.sock'), processes: 0 }), /exited \(1\) before it accepted: PORTICO_ERR_INVALID_OPTION/);
  });
});
