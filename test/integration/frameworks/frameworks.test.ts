import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { uwsgiRequest } from '../../../protocol/uwsgi/uwsgi-client.js';
import { fixturesDir } from '../../../support/paths.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

describe('Node frameworks run unmodified as node-kind apps', () => {
  const tmp = makeTmpDir('frameworks');
  after(() => tmp.cleanup());

  it('Express 5: routing, query, JSON body, cookies, req.ip from REMOTE_ADDR, its own error handler', async () => {
    const sock = join(tmp.path, 'express.sock');
    const w = await startWorker(join(fixturesDir, 'express-app.mjs'), sock);
    try {
      await w.waitFor(/node app .*express-app\.mjs:default on/);
      const res = await uwsgiRequest({ socket: sock, path: '/hello/%ED%95%9C?x=1' });
      assert.equal(res.status, 200);
      assert.deepEqual(JSON.parse(res.body.toString()), { name: '한', q: { x: '1' }, ip: '127.0.0.1', proto: 'http' });
      assert.deepEqual(
        res.headers.filter(([n]) => n.toLowerCase() === 'set-cookie').map(([, v]) => v),
        ['a=1; Path=/', 'b=2; Path=/'],
      );

      const posted = await uwsgiRequest({ socket: sock, method: 'POST', path: '/json', headers: [['Content-Type', 'application/json']], body: '{"a":[1,2]}' });
      assert.equal(posted.status, 201);
      assert.deepEqual(JSON.parse(posted.body.toString()), { got: { a: [1, 2] } });

      const boom = await uwsgiRequest({ socket: sock, path: '/boom' });
      assert.equal(boom.status, 500);
      assert.equal((await uwsgiRequest({ socket: sock, path: '/nowhere' })).status, 404);
      // Express's own final handler answers an error with its status: express.json()'s 400 for a
      // body that is not JSON, never a 500 of portico's.
      const bad = await uwsgiRequest({ socket: sock, method: 'POST', path: '/json', headers: [['Content-Type', 'application/json']], body: '{"a":' });
      assert.equal(bad.status, 400);
    } finally {
      await w.stop();
    }
  });

  it('a (req, res, x) listener is called as node:http calls it: (req, res), no third argument', async () => {
    const sock = join(tmp.path, 'three-params.sock');
    const w = await startWorker(join(fixturesDir, 'three-params-app.mjs'), sock);
    try {
      const res = await uwsgiRequest({ socket: sock, path: '/x' });
      assert.equal(res.status, 200);
      assert.deepEqual(JSON.parse(res.body.toString()), { args: 2, parsedUrl: 'undefined' });
    } finally {
      await w.stop();
    }
  });

  it('fastify 5: the instance exported as it is (`export default app`): routes, JSON body, protocol', async () => {
    const sock = join(tmp.path, 'fastify.sock');
    const w = await startWorker(join(fixturesDir, 'fastify-app.mjs'), sock);
    try {
      const res = await uwsgiRequest({ socket: sock, path: '/hi' });
      assert.equal(res.status, 200);
      assert.deepEqual(JSON.parse(res.body.toString()), { hi: 'there', protocol: 'http', ip: '127.0.0.1' });
      const posted = await uwsgiRequest({ socket: sock, method: 'POST', path: '/echo', headers: [['Content-Type', 'application/json']], body: '{"a":1}' });
      assert.deepEqual(JSON.parse(posted.body.toString()), { got: { a: 1 } });
      assert.equal((await uwsgiRequest({ socket: sock, path: '/nowhere' })).status, 404);
    } finally {
      await w.stop();
    }
  });

  it('Koa 3: the app exported as it is (`export default app`), not its callback()', async () => {
    const sock = join(tmp.path, 'koa-instance.sock');
    const w = await startWorker(join(fixturesDir, 'koa-instance-app.mjs'), sock);
    try {
      const res = await uwsgiRequest({ socket: sock, path: '/k', headers: [['Host', 'x']] });
      assert.equal(res.status, 200);
      assert.deepEqual(JSON.parse(res.body.toString()), { path: '/k', protocol: 'http' });
    } finally {
      await w.stop();
    }
  });

  it('Koa 3: app.callback() from a CommonJS module', async () => {
    const sock = join(tmp.path, 'koa.sock');
    const w = await startWorker(join(fixturesDir, 'koa-app.cjs'), sock);
    try {
      const res = await uwsgiRequest({ socket: sock, method: 'PATCH', path: '/k?z' });
      assert.equal(res.status, 200);
      assert.ok(res.headers.some(([n, v]) => n.toLowerCase() === 'x-koa' && v === 'yes'));
      assert.deepEqual(JSON.parse(res.body.toString()), { path: '/k', method: 'PATCH', ip: '127.0.0.1' });
    } finally {
      await w.stop();
    }
  });
});
