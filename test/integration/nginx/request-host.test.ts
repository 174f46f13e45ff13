// The Host header never chooses the path an app sees (protocol/http/host.ts): refused with 400
// PORTICO_ERR_INVALID_HOST at the gateway and in the worker, for every app kind and every front;
// an absolute-form request target becomes the path and the Host, as nginx makes it.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isValidHost } from '../../../protocol/http/host.js';
import { uwsgiRequest } from '../../../protocol/uwsgi/uwsgi-client.js';
import type { Started } from '../../../support/child-process.js';
import { startNginx, type Nginx } from '../../../support/nginx.js';
import { fixturesDir } from '../../../support/paths.js';
import { outputLine, startServe, type HttpFront } from '../../support/portico-gateway.js';
import { startWorker } from '../../../support/portico-worker.js';
import { sendRaw } from '../../support/raw-exchange.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { needPeer, nginxMissing } from '../../support/peers.js';

const VALID = ['example.com', 'example.com:8080', 'a', '127.0.0.1', '127.0.0.1:80', '[::1]', '[::1]:8443', 'my_service', 'a-b.c~d', 'host:'];
const INVALID = ['a\\admin?', 'a/admin?', 'a/admin', 'a?x', 'a#x', 'a@b', 'user:pw@host', 'a b', 'a\tb', '1.2.3.256', 'a:99999', 'a:x', '[zz]', 'caf\u00e9.com', 'a%2Fb', '\\\\', '[::1'];

describe('the Host rule', () => {
  test('what it admits parses as a URL whose path is the target, whatever the Host', () => {
    for (const host of VALID) {
      assert.ok(isValidHost(host), host);
      const url = new URL(`http://${host}/public?x=1`);
      assert.equal(url.pathname, '/public', host);
      assert.equal(url.search, '?x=1', host);
    }
  });

  test('what it refuses includes every Host that moves the path or breaks the URL', () => {
    for (const host of INVALID) assert.equal(isValidHost(host), false, host);
    // The attack itself: pasted in front of the target, these give another path or no URL at all.
    for (const host of ['a\\admin?', 'a/admin?']) assert.equal(new URL(`http://${host}/public`).pathname, '/admin');
  });
});

function rawGet(port: number, target: string, host: string | null): Promise<{ status: number; body: string }> {
  const head = `GET ${target} HTTP/1.1\r\n${host === null ? '' : `Host: ${host}\r\n`}Connection: close\r\n\r\n`;
  return sendRaw(port, Buffer.from(head, 'latin1'), { split: 'whole', expect: 1 }).then((ex) => {
    assert.equal(ex.responses.length, 1, `no response to ${JSON.stringify(head)}`);
    return { status: ex.responses[0]!.status, body: ex.responses[0]!.body.toString() };
  });
}

describe('portico serve: Host and the request target', { timeout: 60_000 }, () => {
  let front: HttpFront | undefined;

  before(async () => {
    front = await startServe(join(fixturesDir, 'url-app.mjs'), ['--static', `/static=${join(fixturesDir, 'url-static')}`]);
  });
  after(() => front?.stop());

  for (const host of ['a\\admin?', 'a/admin?', 'a#admin', 'a@b']) {
    test(`Host: ${host} → 400 PORTICO_ERR_INVALID_HOST, the app never sees it`, async () => {
      const res = await rawGet(front!.port, '/public', host);
      assert.equal(res.status, 400);
      assert.equal(res.body, '400 PORTICO_ERR_INVALID_HOST\n');
      await outputLine(front!.proc, /PORTICO_ERR_INVALID_HOST: GET \/public/);
    });
  }

  test('a valid Host: the app sees the target as its path', async () => {
    const res = await rawGet(front!.port, '/public?q=1', 'example.com:8080');
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body), { pathname: '/public', search: '?q=1', host: 'example.com:8080' });
  });

  test('an absolute-form target: its path and query are the path, its authority the Host', async () => {
    const res = await rawGet(front!.port, 'http://other.example/p?q=1', 'ignored.example');
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body), { pathname: '/p', search: '?q=1', host: 'other.example' });
    const bare = await rawGet(front!.port, 'http://other.example', 'ignored.example');
    assert.deepEqual(JSON.parse(bare.body), { pathname: '/', search: '', host: 'other.example' });
  });

  test('an absolute-form target reaches a --static mount', async () => {
    const res = await rawGet(front!.port, 'http://other.example/static/file.txt', 'other.example');
    assert.equal(res.status, 200);
    assert.equal(res.body, 'static file\n');
  });

  test('an absolute-form target with userinfo or a bad authority is refused', async () => {
    for (const target of ['http://user@other.example/p', 'http://a\\b/p']) {
      const res = await rawGet(front!.port, target, 'x');
      assert.equal(res.status, 400, target);
    }
  });
});

describe('nginx → portico worker: a Host nginx lets through is refused by the worker', { skip: needPeer(nginxMissing()), timeout: 60_000 }, () => {
  let tmp: ReturnType<typeof makeTmpDir> | undefined;
  let worker: Started | undefined;
  let nginx: Nginx | undefined;

  before(async () => {
    tmp = makeTmpDir('host-nginx');
    const sock = join(tmp.path, 'w.sock');
    worker = await startWorker(join(fixturesDir, 'url-app.mjs'), sock, ['--chmod-socket', '666']);
    nginx = await startNginx(tmp.path, sock, 'location /admin { return 403; }');
  });
  after(async () => {
    await nginx?.stop();
    await worker?.stop();
    tmp?.cleanup();
  });

  test('Host: a\\admin? on GET /public → 400 PORTICO_ERR_INVALID_HOST, never the app at /admin', async () => {
    assert.equal((await rawGet(nginx!.port, '/admin', 'a')).status, 403);
    const res = await rawGet(nginx!.port, '/public', 'a\\admin?');
    assert.equal(res.status, 400);
    await outputLine(worker!, /PORTICO_ERR_INVALID_HOST: GET \/public: .*a\\\\admin\?/);
    const ok = await rawGet(nginx!.port, '/public', 'a');
    assert.deepEqual(JSON.parse(ok.body), { pathname: '/public', search: '', host: 'a' });
  });

  test('an absolute-form target through nginx: the path and Host nginx makes of it', async () => {
    const res = await rawGet(nginx!.port, 'http://other.example/p?q=1', 'ignored.example');
    assert.deepEqual(JSON.parse(res.body), { pathname: '/p', search: '?q=1', host: 'other.example' });
  });
});

describe('every app kind: the worker refuses an invalid HTTP_HOST and an empty vars block', { timeout: 60_000 }, () => {
  const apps = ['fetch-app.mjs', 'node-app.mjs', 'wsgi-app.mjs'];
  let tmp: ReturnType<typeof makeTmpDir> | undefined;
  const workers: Started[] = [];

  before(async () => {
    tmp = makeTmpDir('host-kinds');
    await Promise.all(apps.map(async (app) => workers.push(await startWorker(join(fixturesDir, app), join(tmp!.path, `${app}.sock`)))));
  });
  after(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    tmp?.cleanup();
  });

  for (const app of apps) {
    test(`${app}: HTTP_HOST a/admin? → 400, a valid one is served`, async () => {
      const socket = join(tmp!.path, `${app}.sock`);
      const bad = await uwsgiRequest({ socket, path: '/echo', headers: [['Host', 'a/admin?']] });
      assert.equal(bad.status, 400);
      const good = await uwsgiRequest({
        socket,
        method: 'POST',
        path: '/echo',
        headers: [
          ['Host', 'a.example'],
          ['Content-Type', 'text/plain'],
        ],
        body: 'hi',
      });
      assert.equal(good.status, 200);
      assert.equal(good.body.toString(), 'hi');
    });

    test(`${app}: a packet with an empty vars block → 400 PORTICO_ERR_EMPTY_REQUEST`, async () => {
      const socket = join(tmp!.path, `${app}.sock`);
      const { connect } = await import('node:net');
      const reply = await new Promise<string>((resolve, reject) => {
        const s = connect(socket);
        let out = '';
        s.on('data', (c: Buffer) => (out += c.toString('latin1')));
        s.on('end', () => resolve(out));
        s.on('error', reject);
        s.end(Buffer.from([0, 0, 0, 0]));
      });
      assert.match(reply, /^HTTP\/1\.1 400 /);
    });
  }
});
