// `--static /static=DIR` through `portico serve`: what @fastify/static answers from disk (caching
// headers, ranges, HEAD, index files, precompressed siblings) and, above all, what it must never
// answer: dotfiles, and anything outside DIR however the path is spelt or linked.
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { fixturesDir } from '../../../support/paths.js';
import { startServe, type HttpFront } from '../../support/portico-gateway.js';
import { rawRequest } from '../../support/raw-http.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

/** In the file next to DIR that every escape below aims at; it must never reach a client. */
const OUTSIDE_MARKER = 'OUTSIDE-THE-STATIC-ROOT-7f3a';

const BIG = 'portico static gzip sibling\n'.repeat(2000);

describe('gateway --static /static=DIR', { timeout: 60_000 }, () => {
  // Made here, not in before(): the escape cases below name the outside file by its full path.
  const tmp = makeTmpDir('gateway-static');
  let serve: HttpFront | undefined;
  let base = '';
  let bigGz: Buffer;

  before(
    async () => {
      // tmp/package.json is what `/static/../package.json` would reach if the root could be left.
      writeFileSync(join(tmp.path, 'package.json'), JSON.stringify({ name: OUTSIDE_MARKER }));
      const dir = join(tmp.path, 'public');
      mkdirSync(join(dir, 'sub'), { recursive: true });
      writeFileSync(join(dir, 'a.txt'), 'hello from a.txt\n');
      writeFileSync(join(dir, 'sub', 'index.html'), '<h1>sub index</h1>\n');
      writeFileSync(join(dir, '.hidden'), 'dotfile secret\n');
      writeFileSync(join(dir, 'big.txt'), BIG);
      bigGz = gzipSync(BIG);
      writeFileSync(join(dir, 'big.txt.gz'), bigGz);
      symlinkSync(join(tmp.path, 'package.json'), join(dir, 'outside-link.json'));
      symlinkSync(tmp.path, join(dir, 'outside-dir'));
      // A precompressed sibling that leads out of the root: the plain file is served instead.
      writeFileSync(join(dir, 'plain.txt'), 'the plain file\n');
      symlinkSync(join(tmp.path, 'package.json'), join(dir, 'plain.txt.gz'));
      symlinkSync(join(tmp.path, 'package.json'), join(dir, 'plain.txt.br'));
      // A link that stays inside the root is an ordinary file to serve.
      symlinkSync(join(dir, 'a.txt'), join(dir, 'inside-link.txt'));
      serve = await startServe(join(fixturesDir, 'fetch-app.mjs'), ['--static', `/static=${dir}`]);
      base = serve.url;
    },
    { timeout: 30_000 },
  );

  after(async () => {
    await serve?.stop();
    tmp.cleanup();
  });

  test('a file: 200 with its body, ETag, Last-Modified and a text/plain type', async () => {
    const res = await rawRequest(base, '/static/a.txt');
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'hello from a.txt\n');
    assert.match(res.headers['content-type'] ?? '', /^text\/plain/);
    assert.equal(res.headers['content-length'], '17');
    assert.match(res.headers.etag ?? '', /^(W\/)?"[^"]+"$/);
    assert.ok(!Number.isNaN(Date.parse(res.headers['last-modified'] ?? '')), `Last-Modified ${res.headers['last-modified']}`);
  });

  test('If-None-Match with the ETag: 304 and no body; another ETag: 200', async () => {
    const { headers } = await rawRequest(base, '/static/a.txt');
    const etag = headers.etag!;
    const same = await rawRequest(base, '/static/a.txt', { headers: { 'If-None-Match': etag } });
    assert.equal(same.status, 304);
    assert.equal(same.body.length, 0);
    assert.equal(same.headers.etag, etag);
    const other = await rawRequest(base, '/static/a.txt', { headers: { 'If-None-Match': '"something-else"' } });
    assert.equal(other.status, 200);
  });

  test('Range: 206 with the slice and Content-Range; an unsatisfiable range: 416', async () => {
    const part = await rawRequest(base, '/static/a.txt', { headers: { Range: 'bytes=6-9' } });
    assert.equal(part.status, 206);
    assert.equal(part.body.toString(), 'from');
    assert.equal(part.headers['content-range'], 'bytes 6-9/17');
    const beyond = await rawRequest(base, '/static/a.txt', { headers: { Range: 'bytes=100-200' } });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers['content-range'], 'bytes */17');
  });

  test('HEAD: the GET headers, no body', async () => {
    const res = await rawRequest(base, '/static/a.txt', { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-length'], '17');
    assert.match(res.headers['content-type'] ?? '', /^text\/plain/);
    assert.equal(res.body.length, 0);
  });

  test('a directory with a trailing slash serves its index.html', async () => {
    const res = await rawRequest(base, '/static/sub/');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'] ?? '', /^text\/html/);
    assert.equal(res.body.toString(), '<h1>sub index</h1>\n');
  });

  test('Accept-Encoding: gzip gets the precompressed .gz sibling; without it, the plain file', async () => {
    const gz = await rawRequest(base, '/static/big.txt', { headers: { 'Accept-Encoding': 'gzip' } });
    assert.equal(gz.status, 200);
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.match(gz.headers['content-type'] ?? '', /^text\/plain/);
    assert.match(gz.headers.vary ?? '', /accept-encoding/i);
    assert.ok(gz.body.equals(bigGz), 'not the bytes of big.txt.gz');
    assert.equal(gunzipSync(gz.body).toString(), BIG);

    const plain = await rawRequest(base, '/static/big.txt');
    assert.equal(plain.status, 200);
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.body.toString(), BIG);
  });

  test('a dotfile is not served', async () => {
    const res = await rawRequest(base, '/static/.hidden');
    assert.ok(res.status === 404 || res.status === 403, `status ${res.status}`);
    assert.ok(!res.body.toString().includes('dotfile secret'));
  });

  test('a precompressed sibling linked out of the root: the plain file, not a 404 and never the target', async () => {
    for (const encoding of ['gzip', 'br', 'gzip, br', 'br;q=1, gzip;q=0.5, identity']) {
      const res = await rawRequest(base, '/static/plain.txt', { headers: { 'accept-encoding': encoding } });
      assert.equal(res.status, 200, encoding);
      assert.equal(res.headers['content-encoding'], undefined, encoding);
      assert.equal(res.body.toString(), 'the plain file\n', encoding);
    }
  });

  test('a symlink to a file inside the root is served', async () => {
    const res = await rawRequest(base, '/static/inside-link.txt');
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'hello from a.txt\n');
  });

  const ESCAPES = [
    '/static/../package.json',
    '/static/%2e%2e/package.json',
    '/static/%2E%2E/package.json',
    '/static/..%2fpackage.json',
    '/static/..%2Fpackage.json',
    '/static/%2e%2e%2fpackage.json',
    '/static/..\\package.json',
    '/static/..%5cpackage.json',
    '/static/sub/../../package.json',
    '/static/sub/..%2f..%2fpackage.json',
    // An absolute path after the prefix: the outside file by its full name.
    `/static/${join(tmp.path, 'package.json')}`,
    '/static/a.txt%00',
    '/static/a.txt%00.json',
    '/static/outside-link.json',
    '/static/outside-dir/package.json',
  ];

  for (const path of ESCAPES) {
    test(`no way out of the root: ${path}`, async () => {
      const res = await rawRequest(base, path);
      assert.ok([400, 403, 404].includes(res.status), `${path}: status ${res.status}, body ${res.body.toString().slice(0, 200)}`);
      assert.ok(!res.body.toString().includes(OUTSIDE_MARKER), `${path} served the file outside the root`);
    });
  }

  test('paths outside /static/ go to the app', async () => {
    for (const path of ['/', '/staticky/a.txt', '/other/static/a.txt']) {
      const res = await fetch(base + path);
      assert.equal(res.status, 200, path);
      const seen = (await res.json()) as { method: string; path: string };
      assert.deepEqual({ method: seen.method, path: seen.path }, { method: 'GET', path });
    }
  });
});
