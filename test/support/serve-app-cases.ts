// The behaviour every app kind must show through `portico serve`, whichever link the gateway
// uses: one table of cases, run by gateway.test.ts (uwsgi link) and gateway-native.test.ts.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { outputLine } from '../../support/child-process.js';
import { startServe, type HttpFront } from './portico-gateway.js';
import { rawRequest } from './raw-http.js';

const MiB = 1024 * 1024;
/** A stack that never prints its ready line fails the hook instead of hanging the run. */
const START_TIMEOUT = { timeout: 30_000 };

export interface ServeStack {
  readonly front: HttpFront;
  readonly base: string;
}

/** `portico serve APP ...extra` for the enclosing describe(): started before, stopped after. */
export function serveForSuite(app: string, extra: string[]): ServeStack {
  let front: HttpFront | undefined;
  before(async () => {
    front = await startServe(app, extra);
  }, START_TIMEOUT);
  after(async () => {
    await front?.stop();
  });
  return {
    get front() {
      return front!;
    },
    get base() {
      return front!.url;
    },
  };
}

/** The cases (the fixtures fetch-app, wsgi-app and node-app all answer them the same way). */
export function appCases(stack: ServeStack): void {
  test('GET with a UTF-8 path and query: the app sees them decoded', async () => {
    const res = await fetch(`${stack.base}/caf%C3%A9/%E2%9C%93%20ok?q=%C3%A9t%C3%A9&k=%ED%95%9C&e=a%26b`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const seen = (await res.json()) as { method: string; path: string; query: Record<string, string>; headers: Record<string, string> };
    assert.equal(seen.method, 'GET');
    assert.equal(seen.path, '/café/✓ ok');
    assert.deepEqual(seen.query, { q: 'été', k: '한', e: 'a&b' });
    assert.equal(seen.headers.host, new URL(stack.base).host);
  });

  test('POST application/x-www-form-urlencoded: the app parses the form', async () => {
    const res = await fetch(`${stack.base}/form`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'name=J%C3%BCrgen+M&lang=%ED%95%9C&empty=&sym=1%2B1%3D2',
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { name: 'Jürgen M', lang: '한', empty: '', sym: '1+1=2' });
  });

  test('a 1 MiB random upload is echoed back byte for byte', async () => {
    const upload = randomBytes(MiB);
    const res = await fetch(`${stack.base}/echo`, { method: 'POST', headers: { 'content-type': 'application/x-portico-test' }, body: upload });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/x-portico-test');
    const back = Buffer.from(await res.arrayBuffer());
    assert.equal(back.length, upload.length);
    assert.ok(back.equals(upload), 'echoed bytes differ from the upload');
  });

  test('a 10 MiB streamed download arrives whole', async () => {
    const size = 10 * MiB;
    const res = await fetch(`${stack.base}/download?bytes=${size}`);
    assert.equal(res.status, 200);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(body.length, size);
    assert.ok(body.equals(Buffer.alloc(size, 'x')), 'download content is not all "x"');
  });

  test('HEAD: the GET status and headers, no body bytes on the wire', async () => {
    const res = await rawRequest(stack.base, '/', { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'] ?? '', /^application\/json/);
    assert.equal(res.body.length, 0);
  });

  test('204: no body', async () => {
    const res = await rawRequest(stack.base, '/empty');
    assert.equal(res.status, 204);
    assert.equal(res.body.length, 0);
    assert.equal(res.headers['content-length'], undefined);
  });

  test('two Set-Cookie headers stay two headers, with the 302 and its Location', async () => {
    const res = await fetch(`${stack.base}/cookies`, { redirect: 'manual' });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), '/next');
    assert.deepEqual(res.headers.getSetCookie(), ['a=1; Path=/', 'b=2; HttpOnly']);
    assert.equal(await res.text(), '');
  });

  test('a chunked request body (no Content-Length, written in pieces) is echoed', async () => {
    const pieces = ['first piece, ', 'zweites Stück, ', '세 번째', Buffer.alloc(100_000, 'y')];
    const res = await rawRequest(stack.base, '/echo', {
      method: 'POST',
      headers: { 'content-type': 'text/plain; charset=utf-8', 'transfer-encoding': 'chunked' },
      body: pieces,
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
    assert.ok(res.body.equals(Buffer.concat(pieces.map((p) => Buffer.from(p)))), 'echoed body differs');
  });

  test('the app throws: 500 with a coded log line, and the next request is fine', async () => {
    const res = await fetch(`${stack.base}/throw`);
    assert.equal(res.status, 500);
    assert.equal(await res.text(), '500 Internal Server Error\n');
    await outputLine(stack.front.proc, /PORTICO_ERR_APP_EXCEPTION: GET \/throw: Error: boom from the/);
    const again = await fetch(`${stack.base}/`);
    assert.equal(again.status, 200);
    assert.equal(((await again.json()) as { path: string }).path, '/');
  });
}
