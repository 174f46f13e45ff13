// --gateway-plugin FILE: the user's fastify plugins in front of the forwarding route, with real
// packages (@fastify/compress, @fastify/cors, @fastify/helmet, @fastify/rate-limit) and a plain
// auth hook, through `portico serve` and `portico gateway`; and a plugin file that fails to load.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { startProcess, type Started } from '../../../support/child-process.js';
import { fixturesDir, porticoBin } from '../../../support/paths.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { startGateway, startServe, type HttpFront } from '../../support/portico-gateway.js';
import { rawRequest } from '../../support/raw-http.js';

const DIR = join(fixturesDir, 'gateway-plugins');
const APP = join(DIR, 'app.mjs');
const TEXT = 'portico forwards this through fastify. '.repeat(200);
const PLUGINS = ['compress', 'cors', 'helmet', 'rate-limit', 'auth'].flatMap((p) => ['--gateway-plugin', join(DIR, `${p}.mjs`)]);

/** The plugins' effects on forwarded requests, the same through either command. */
function pluginCases(front: () => HttpFront): void {
  test("@fastify/compress gzips a forwarded body for a client that accepts it; the worker's cookies pass", async () => {
    const res = await rawRequest(front().url, '/text', { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-encoding'], 'gzip');
    assert.equal(gunzipSync(res.body).toString(), TEXT);
    assert.deepEqual(res.headers['set-cookie'], ['a=1', 'b=2']);
    // Without Accept-Encoding the body is the worker's, with its length.
    const plain = await rawRequest(front().url, '/text');
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.body.toString(), TEXT);
  });

  test('@fastify/cors answers a preflight and adds its header to a forwarded response', async () => {
    const preflight = await rawRequest(front().url, '/text', { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'PUT' } });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], 'https://app.example');
    const res = await rawRequest(front().url, '/text', { headers: { origin: 'https://app.example' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers['access-control-allow-origin'], 'https://app.example');
  });

  test('@fastify/helmet adds its headers to a forwarded response', async () => {
    const res = await rawRequest(front().url, '/text');
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.match(String(res.headers['content-security-policy']), /default-src 'self'/);
  });

  test('an onRequest auth hook answers 401 before anything is forwarded, and lets the right token through', async () => {
    const refused = await rawRequest(front().url, '/private/text');
    assert.equal(refused.status, 401);
    assert.equal(refused.headers['www-authenticate'], 'Bearer');
    assert.equal(refused.body.toString(), '401 who are you?\n');
    const allowed = await rawRequest(front().url, '/private/text', { headers: { authorization: 'Bearer let-me-in' } });
    assert.equal(allowed.status, 200);
    assert.equal(allowed.body.toString(), TEXT);
  });

  test('@fastify/rate-limit answers 429 past its limit', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await rawRequest(front().url, '/text', { headers: { 'x-limit-me': '1' } })).status);
    assert.deepEqual(statuses, [200, 200, 200, 429]);
  });

  test('a request body streams through fastify to the worker, Content-Length and chunked', async () => {
    const body = randomBytes(256 * 1024);
    const sized = await rawRequest(front().url, '/echo', { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'content-length': body.length }, body: [body] });
    assert.equal(sized.status, 200);
    assert.ok(sized.body.equals(body), 'echoed body differs');
    const chunked = await rawRequest(front().url, '/echo', { method: 'PUT', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, body: ['{"a":', '1}'] });
    assert.equal(chunked.status, 200);
    assert.equal(chunked.body.toString(), '{"a":1}');
  });

  test('HEAD gets the head only', async () => {
    const res = await rawRequest(front().url, '/text', { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.body.length, 0);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
  });
}

describe('portico serve --gateway-plugin', { timeout: 60_000 }, () => {
  let front: HttpFront;
  const tmp = makeTmpDir('gateway-plugin-static');
  before(async () => {
    writeFileSync(join(tmp.path, 'page.txt'), 'a static file\n');
    front = await startServe(APP, [...PLUGINS, '--static', `/files=${tmp.path}`]);
  });
  after(async () => {
    await front?.stop();
    tmp.cleanup();
  });
  pluginCases(() => front);

  test('the plugins see the --static files too, every time (no cache answers in front of them)', async () => {
    for (let i = 0; i < 2; i++) {
      const res = await rawRequest(front.url, '/files/page.txt');
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'a static file\n');
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
    }
  });
});

describe('portico gateway --gateway-plugin', { timeout: 60_000 }, () => {
  let front: HttpFront;
  let worker: Started;
  const tmp = makeTmpDir('gateway-plugin');
  before(async () => {
    const socket = join(tmp.path, 'app.sock');
    worker = await startWorker(APP, socket, ['--no-master']);
    front = await startGateway([`portico://unix:${socket}`], PLUGINS);
  });
  after(async () => {
    await front?.stop();
    await worker?.stop();
    tmp.cleanup();
  });
  pluginCases(() => front);
});

describe('a --gateway-plugin that fails to load', { timeout: 60_000 }, () => {
  const cases = [
    { file: 'throws.mjs', cause: /import failed: Error: this plugin file is broken on purpose/ },
    { file: 'not-a-plugin.mjs', cause: /its default export is a number, not a function/ },
    { file: 'missing.mjs', cause: /no such file/ },
  ];
  for (const { file, cause } of cases) {
    for (const command of ['serve', 'gateway'] as const) {
      test(`${command}: ${file} is one PORTICO_ERR_GATEWAY_PLUGIN line and exit 1`, async () => {
        const args = command === 'serve' ? ['serve', APP, '--workers', '1'] : ['gateway', '--upstream', 'portico://unix:/nonexistent.sock'];
        const proc = startProcess(process.execPath, [porticoBin, ...args, '--http', '127.0.0.1:0', '--gateway-plugin', join(DIR, file)]);
        const [code] = await once(proc.child, 'exit');
        const out = proc.output();
        assert.equal(code, 1, out);
        assert.match(out, /PORTICO_ERR_GATEWAY_PLUGIN/);
        assert.match(out, cause);
        assert.match(out, /default export/);
        assert.doesNotMatch(out, /\n\s+at /, 'no stack trace');
      });
    }
  }

  test('the ini key gateway-plugin registers the plugin as the option does', async () => {
    const tmp = makeTmpDir('gateway-plugin-ini');
    const ini = join(tmp.path, 'portico.ini');
    writeFileSync(ini, `[portico]\ngateway-plugin = ${join(DIR, 'auth.mjs')}\n`);
    const front = await startServe(APP, ['--ini', ini]);
    try {
      assert.equal((await rawRequest(front.url, '/private/x')).status, 401);
      assert.equal((await rawRequest(front.url, '/text')).status, 200);
    } finally {
      await front.stop();
      tmp.cleanup();
    }
  });
});
