// End to end through the portico gateway: real HTTP from fetch / node:http into `portico serve`
// (gateway and workers as the CLI starts them) for each kind of app, the X-Forwarded-For trust
// rules seen from an app's environ, and real uWSGI (python3) behind `portico gateway`.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startProcess, type Started } from '../../../support/child-process.js';
import { fixturesDir, vectorsDir } from '../../../support/paths.js';
import { outputLine, startGateway, type HttpFront } from '../../support/portico-gateway.js';
import { startWorker } from '../../../support/portico-worker.js';
import { rawRequest } from '../../support/raw-http.js';
import { appCases, serveForSuite } from '../../support/serve-app-cases.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { needPeer, uwsgiMissing } from '../../support/peers.js';

const KINDS = [
  { kind: 'fetch', app: 'fetch-app.mjs' },
  { kind: 'wsgi', app: 'wsgi-app.mjs' },
  { kind: 'node', app: 'node-app.mjs' },
] as const;

/** A stack that never prints its ready line fails the hook instead of hanging the run. */
const START_TIMEOUT = { timeout: 30_000 };

for (const { kind, app } of KINDS) {
  describe(`portico serve --workers 2, ${kind} app`, { timeout: 120_000 }, () => {
    const stack = serveForSuite(join(fixturesDir, app), ['--workers', '2']);
    appCases(stack);

    test('concurrent requests are spread over both workers', async () => {
      const started = stack.front.proc.output().match(/portico worker \d+: \w+ app .* on /g) ?? [];
      assert.equal(started.length, 2, `expected two worker ready lines:\n${stack.front.proc.output()}`);
      const all = await Promise.all(Array.from({ length: 8 }, (_, i) => fetch(`${stack.base}/download?bytes=${256 * 1024}&n=${i}`)));
      for (const res of all) {
        assert.equal(res.status, 200);
        assert.equal((await res.arrayBuffer()).byteLength, 256 * 1024);
      }
      // Request log lines of two different pids.
      const [, a, b] = await outputLine(stack.front.proc, /\[pid: (\d+)\|[^\n]*GET \/download\?bytes=262144[\s\S]*\[pid: (?!\1\|)(\d+)\|[^\n]*GET \/download\?bytes=262144/);
      assert.notEqual(a, b);
    });
  });
}

interface Environ {
  [key: string]: string | undefined;
}

describe('gateway trust: X-Forwarded-For as an app sees it in REMOTE_ADDR', { timeout: 60_000 }, () => {
  let tmp: ReturnType<typeof makeTmpDir> | undefined;
  let worker: Started | undefined;
  let trusting: HttpFront | undefined;
  let untrusting: HttpFront | undefined;

  before(async () => {
    tmp = makeTmpDir('gateway-trust');
    const socket = join(tmp.path, 'environ.sock');
    worker = await startWorker(join(fixturesDir, 'environ-app.mjs'), socket);
    // Default --trusted-proxies (loopback and unix) and one that does not include loopback.
    [trusting, untrusting] = await Promise.all([startGateway([`uwsgi://unix:${socket}`]), startGateway([`uwsgi://unix:${socket}`], ['--trusted-proxies', '192.0.2.0/24'])]);
  }, START_TIMEOUT);

  after(async () => {
    await Promise.all([trusting?.stop(), untrusting?.stop()]);
    await worker?.stop();
    tmp?.cleanup();
  });

  async function environ(front: HttpFront, headers: Record<string, string>): Promise<Environ> {
    const res = await rawRequest(front.url, '/who', { headers });
    assert.equal(res.status, 200);
    return JSON.parse(res.body.toString()) as Environ;
  }

  test('from loopback (trusted by default): the last X-Forwarded-For hop and X-Forwarded-Proto are believed', async () => {
    const env = await environ(trusting!, { 'X-Forwarded-For': '203.0.113.9', 'X-Forwarded-Proto': 'https' });
    assert.equal(env.REMOTE_ADDR, '203.0.113.9');
    assert.equal(env.REMOTE_PORT, '');
    assert.equal(env.REQUEST_SCHEME, 'https');
    assert.equal(env.HTTPS, 'on');
    assert.equal(env.HTTP_X_FORWARDED_FOR, '203.0.113.9');
  });

  test('with --trusted-proxies 192.0.2.0/24 the loopback peer is not believed', async () => {
    const env = await environ(untrusting!, { 'X-Forwarded-For': '203.0.113.9', 'X-Forwarded-Proto': 'https' });
    assert.equal(env.REMOTE_ADDR, '127.0.0.1');
    assert.match(env.REMOTE_PORT ?? '', /^\d+$/);
    assert.equal(env.REQUEST_SCHEME, 'http');
    assert.equal(env.HTTPS, undefined);
    // Passed on to the app as a header all the same, as nginx does.
    assert.equal(env.HTTP_X_FORWARDED_FOR, '203.0.113.9');
  });

  test('X_Forwarded_For (underscores) is dropped: never HTTP_X_FORWARDED_FOR, never REMOTE_ADDR', async () => {
    const alone = await environ(trusting!, { X_Forwarded_For: '6.6.6.6' });
    assert.equal(alone.REMOTE_ADDR, '127.0.0.1');
    assert.equal(alone.HTTP_X_FORWARDED_FOR, undefined);
    assert.ok(!Object.values(alone).includes('6.6.6.6'), `6.6.6.6 reached the app: ${JSON.stringify(alone)}`);

    const both = await environ(trusting!, { 'X-Forwarded-For': '203.0.113.9', X_Forwarded_For: '6.6.6.6' });
    assert.equal(both.REMOTE_ADDR, '203.0.113.9');
    assert.equal(both.HTTP_X_FORWARDED_FOR, '203.0.113.9');
    assert.ok(!JSON.stringify(both).includes('6.6.6.6'), `6.6.6.6 reached the app: ${JSON.stringify(both)}`);
  });
});

describe('portico gateway in front of real uWSGI (python3 plugin)', { skip: needPeer(uwsgiMissing()), timeout: 60_000 }, () => {
  let tmp: ReturnType<typeof makeTmpDir> | undefined;
  let uwsgi: Started | undefined;
  let gateway: HttpFront | undefined;
  let base = '';

  before(async () => {
    tmp = makeTmpDir('gateway-uwsgi');
    const socket = join(tmp.path, 'uwsgi.sock');
    // As in uwsgi-interop.test.ts: --strict refuses misspelt options, --die-on-term makes SIGTERM a
    // shutdown, --need-app makes a broken app file an exit.
    uwsgi = startProcess('/usr/bin/uwsgi', ['--strict', '--die-on-term', '--plugin', 'python3', '--socket', socket, '--wsgi-file', join(vectorsDir, 'uwsgi-responses-app.py'), '--need-app']);
    // Printed once the app is loaded, after the socket was bound.
    await uwsgi.waitFor(/spawned uWSGI worker 1 \(and the only\)/);
    gateway = await startGateway([`uwsgi://unix:${socket}`]);
    base = gateway.url;
  }, START_TIMEOUT);

  after(async () => {
    await gateway?.stop();
    await uwsgi?.stop();
    tmp?.cleanup();
  });

  test('GET / : 200 text/plain, the close-delimited body arrives whole', async () => {
    const res = await fetch(`${base}/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/plain');
    assert.equal(res.headers.get('content-length'), null);
    assert.equal(await res.text(), 'Hello World');
  });

  test('GET /stream : a generator body arrives whole', async () => {
    const res = await fetch(`${base}/stream`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'chunk0\nchunk1\nchunk2\n');
  });

  test('GET /cookies : 302, Location and both Set-Cookie lines', async () => {
    const res = await fetch(`${base}/cookies`, { redirect: 'manual' });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), '/next');
    assert.deepEqual(res.headers.getSetCookie(), ['a=1; Path=/', 'b=2; HttpOnly']);
    assert.equal(await res.text(), '');
  });

  test('GET /empty : 204, no content headers, no body', async () => {
    const res = await rawRequest(base, '/empty');
    assert.equal(res.status, 204);
    assert.equal(res.headers['content-type'], undefined);
    assert.equal(res.headers['content-length'], undefined);
    assert.equal(res.body.length, 0);
  });

  test('POST /echo : the body comes back with its Content-Length', async () => {
    const payload = 'hello uwsgi ' + 'é'.repeat(100);
    const res = await fetch(`${base}/echo`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: payload });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.equal(res.headers.get('content-length'), String(Buffer.byteLength(payload)));
    assert.equal(await res.text(), payload);
  });

  test('HEAD / : the GET headers and no body (uWSGI writes one anyway; the gateway drops it)', async () => {
    const res = await rawRequest(base, '/', { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'text/plain');
    assert.equal(res.body.length, 0);
  });
});
