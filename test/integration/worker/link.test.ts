import { strict as assert } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect } from 'node:net';
import { isPorticoError } from '../../../common/errors.js';
import { HEAD_SCHEMAS, NATIVE_MODIFIER1, encodeHello, parseHelloAck } from '../../../protocol/link/index.js';
import { encodePacketHead } from '../../../protocol/uwsgi/packet-encoder.js';
import { uwsgiRequest } from '../../../protocol/uwsgi/uwsgi-client.js';
import type { Started } from '../../../support/child-process.js';
import { pattern, rng } from '../../support/link-frames.js';
import { TestGatewayLink, type TestResponse } from '../../support/link-loopback.js';
import { fixturesDir } from '../../../support/paths.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

const GET = { method: 'GET', headers: [['Host', 'native.test']] as Array<[string, string]> };
const TEN_MIB = 10 * 1024 * 1024;

/** Every value of a header (the flat name, value list keeps repeated ones separate). */
function values(res: TestResponse, name: string): string[] {
  const h = res.head?.headers ?? [];
  const out: string[] = [];
  for (let i = 0; i < h.length; i += 2) if (h[i]!.toLowerCase() === name) out.push(h[i + 1]!);
  return out;
}

const get = (link: TestGatewayLink, uri: string): Promise<TestResponse> => link.request(uri, async (w) => w.end(), GET);

/** A worker process on its own socket for one describe block. */
function workerOn(app: string): { socket: string; worker(): Started } {
  const tmp = makeTmpDir('native-worker');
  const socket = join(tmp.path, 'w.sock');
  let started: Started;
  before(async () => {
    started = await startWorker(join(fixturesDir, app), socket);
  });
  after(async () => {
    await started.stop();
    tmp.cleanup();
  });
  return { socket, worker: () => started };
}

for (const app of ['fetch-app.mjs', 'wsgi-app.mjs', 'node-app.mjs']) {
  describe(`portico worker serves the native link: ${app}`, () => {
    const w = workerOn(app);

    it('serves sequential requests on ONE connection', { timeout: 60_000 }, async () => {
      const link = await TestGatewayLink.open(w.socket);

      const json = await get(link, '/things/1?x=y');
      assert.equal(json.outcome, 'end');
      assert.equal(json.head!.status, 200);
      const seen = JSON.parse(json.body.toString()) as { method: string; path: string; query: Record<string, string> };
      assert.deepEqual([seen.method, seen.path, seen.query], ['GET', '/things/1', { x: 'y' }]);

      // 1 MiB up in uneven framed chunks, no CONTENT_LENGTH: a body of unknown length.
      const upload = pattern(1024 * 1024, 5);
      const rand = rng(11);
      const echo = await link.request(
        '/echo',
        async (req) => {
          for (let pos = 0; pos < upload.length; ) {
            const n = 1 + Math.floor(rand() * 40_000);
            await req.body(upload.subarray(pos, pos + n));
            pos += n;
          }
          req.end();
        },
        {
          method: 'POST',
          headers: [
            ['Host', 'native.test'],
            ['Content-Type', 'application/x-test'],
          ],
        },
      );
      assert.equal(echo.outcome, 'end');
      assert.equal(echo.head!.status, 200);
      assert.deepEqual(values(echo, 'content-type'), ['application/x-test']);
      assert.ok(echo.body.equals(upload), 'the echoed body is the uploaded one, byte for byte');

      const download = await get(link, `/download?bytes=${TEN_MIB}`);
      assert.equal(download.outcome, 'end');
      assert.equal(download.body.length, TEN_MIB);
      assert.ok(download.body.every((b) => b === 120));

      const cookies = await get(link, '/cookies');
      assert.equal(cookies.head!.status, 302);
      assert.deepEqual(values(cookies, 'set-cookie'), ['a=1; Path=/', 'b=2; HttpOnly'], 'kept separate, in order');
      assert.deepEqual(values(cookies, 'location'), ['/next']);

      const thrown = await get(link, '/throw');
      assert.equal(thrown.outcome, 'end');
      assert.equal(thrown.head!.status, 500);
      assert.equal(thrown.body.toString(), '500 Internal Server Error\n');
      await w.worker().waitFor(/PORTICO_ERR_APP_EXCEPTION: GET \/throw: .*boom from the/);

      const after500 = await get(link, '/still-here');
      assert.equal(after500.head!.status, 200);
      assert.equal((JSON.parse(after500.body.toString()) as { path: string }).path, '/still-here');
      assert.ok(link.idle);
      link.close();

      // The per-request log line, as for uwsgi requests.
      await w.worker().waitFor(/POST \/echo => generated 1048576 bytes/);
      await w.worker().waitFor(/GET \/cookies => generated 0 bytes .* \(HTTP\/1\.1 302\)/);
      await w.worker().waitFor(/GET \/still-here => generated \d+ bytes/);
    });

    it('the same socket still answers a plain uwsgi request', async () => {
      const res = await uwsgiRequest({ socket: w.socket, path: '/plain?q=1' });
      assert.equal(res.status, 200);
      assert.equal((JSON.parse(res.body.toString()) as { path: string }).path, '/plain');
    });
  });
}

describe('portico worker, native link: a gateway of link version 1', () => {
  const w = workerOn('fetch-app.mjs');

  it('is refused with a HELLO_ACK carrying PORTICO_ERR_NATIVE_HANDSHAKE, logged once; the next gateway is served', { timeout: 30_000 }, async () => {
    // What a version 1 gateway sent: PORTICO_LINK 1, and PORTICO_LINK_MAX 2 when it also offered streams.
    const hello = encodePacketHead({
      modifier1: NATIVE_MODIFIER1,
      vars: [
        ['PORTICO_LINK', '1'],
        ['PORTICO_HEAD_SCHEMAS', `1:${HEAD_SCHEMAS.current.fingerprint}`],
        ['PORTICO_LINK_MAX', '2'],
      ],
    });
    assert.notDeepEqual(hello, encodeHello());
    const answer = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const s = connect(w.socket, () => s.write(hello));
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('end', () => resolve(Buffer.concat(chunks)));
      s.on('error', reject);
    });
    assert.equal(answer[0], 16, 'a HELLO_ACK frame, then the close');
    assert.equal(answer.readUInt32LE(1), answer.length - 5);
    assert.throws(
      () => parseHelloAck(answer.subarray(5)),
      (err: unknown) =>
        isPorticoError(err) && err.code === 'PORTICO_ERR_NATIVE_HANDSHAKE' && /refused the link \(PORTICO_ERR_NATIVE_HANDSHAKE\): .*link version 1; this worker speaks 2 only/.test(err.message),
    );
    await w.worker().waitFor(/PORTICO_ERR_NATIVE_HANDSHAKE: .*the gateway speaks link version 1; this worker speaks 2 only.*\(peer /);
    const link = await TestGatewayLink.open(w.socket);
    assert.equal((await get(link, '/things/2')).head!.status, 200);
    link.close();
  });
});

describe('portico worker, native link: aborts and the node kind', () => {
  const behaviour = workerOn('behaviour-app.mjs');
  const node = workerOn('node-app.mjs');

  it('REQUEST_ABORT mid-request aborts the app; the connection serves the next request', { timeout: 30_000 }, async () => {
    const link = await TestGatewayLink.open(behaviour.socket);
    const aborted = await link.request('/wait-abort', async (req) => {
      await req.body(Buffer.from('some of the body'));
      await sleep(50); // let the app start waiting on its signal
      req.abort('client went away');
    });
    assert.equal(aborted.outcome, 'abort');
    assert.equal(aborted.head, null, 'no head was sent');
    await behaviour.worker().waitFor(/app saw the abort/);
    await behaviour.worker().waitFor(/POST \/wait-abort => generated 0 bytes .*\(client aborted\)/);

    const next = await get(link, '/echo-length');
    assert.equal(next.outcome, 'end');
    assert.equal(next.body.toString(), '0');

    // The app fails after its head: RESPONSE_ABORT (the gateway must abort its client), link reused.
    const broken = await get(link, '/stream-then-throw');
    assert.equal(broken.outcome, 'abort');
    assert.equal(broken.head!.status, 200);
    assert.match(broken.reason, /PORTICO_ERR_APP_EXCEPTION/);
    await behaviour.worker().waitFor(/PORTICO_ERR_APP_EXCEPTION: GET \/stream-then-throw: failed after the head was sent, response aborted/);

    // A cancel after REQUEST_END (the client left while the app was working) aborts the app too.
    const cancelled = await link.request(
      '/wait-abort',
      async (req) => {
        req.end();
        await sleep(50);
        req.abort();
      },
      GET,
    );
    assert.equal(cancelled.outcome, 'abort');
    await behaviour.worker().waitFor(/GET \/wait-abort => generated 0 bytes .*\(client aborted\)/);

    const last = await get(link, '/');
    assert.equal(last.body.toString(), 'ok');
    assert.ok(link.idle);
    link.close();
  });

  it('a node-kind app on the native link: HEAD, 204, an invalid header, then uwsgi on the same socket', { timeout: 30_000 }, async () => {
    const link = await TestGatewayLink.open(node.socket);
    const head = await link.request('/things/2', async (w) => w.end(), { method: 'HEAD', headers: GET.headers });
    assert.equal(head.outcome, 'end');
    assert.equal(head.head!.status, 200);
    assert.equal(head.body.length, 0, 'no body for HEAD');
    assert.ok(Number(values(head, 'content-length')[0]) > 0, "Node's Content-Length is kept");
    assert.deepEqual(values(head, 'connection'), [], 'hop-by-hop headers are dropped');
    assert.equal(values(head, 'date').length, 1);

    const empty = await get(link, '/empty');
    assert.equal(empty.outcome, 'end');
    assert.equal(empty.head!.status, 204);
    assert.equal(empty.body.length, 0);

    const bad = await get(link, '/bad-header');
    assert.equal(bad.outcome, 'end');
    assert.equal(bad.head!.status, 500);
    await node.worker().waitFor(/PORTICO_ERR_INVALID_HEADER/);

    // REQUEST_ABORT while the app reads its body: RESPONSE_ABORT, and the link serves the next one.
    const aborted = await link.request('/echo', async (req) => {
      await req.body(Buffer.from('part of a body'));
      await sleep(50);
      req.abort('client went away');
    });
    assert.equal(aborted.outcome, 'abort');
    assert.equal(aborted.head, null);
    await node.worker().waitFor(/POST \/echo => generated 0 bytes .*\(client aborted\)/);

    const again = await get(link, '/still-here');
    assert.equal(again.head!.status, 200);
    assert.equal((JSON.parse(again.body.toString()) as { path: string }).path, '/still-here');
    assert.ok(link.idle);
    link.close();
    await node.worker().waitFor(/HEAD \/things\/2 => generated 0 bytes/);
    const plain = await uwsgiRequest({ socket: node.socket, path: '/' });
    assert.equal(plain.status, 200);
  });
});

describe('portico worker, native link: Express 5 as a node-kind app', () => {
  const express = workerOn('express-app.mjs');

  it('routing, cookies, a JSON body, its own error handler and 404, on ONE connection', { timeout: 30_000 }, async () => {
    const link = await TestGatewayLink.open(express.socket);
    const hello = await get(link, '/hello/%ED%95%9C?x=1');
    assert.equal(hello.outcome, 'end');
    assert.equal(hello.head!.status, 200);
    const seen = JSON.parse(hello.body.toString()) as { name: string; q: Record<string, string>; proto: string };
    assert.deepEqual([seen.name, seen.q, seen.proto], ['한', { x: '1' }, 'http']);
    assert.deepEqual(values(hello, 'set-cookie'), ['a=1; Path=/', 'b=2; Path=/']);

    const posted = await link.request(
      '/json',
      async (w) => {
        await w.body(Buffer.from('{"a":[1,2]}'));
        w.end();
      },
      {
        method: 'POST',
        headers: [
          ['Host', 'native.test'],
          ['Content-Type', 'application/json'],
          ['Content-Length', '11'],
        ],
      },
    );
    assert.equal(posted.outcome, 'end');
    assert.equal(posted.head!.status, 201);
    assert.deepEqual(JSON.parse(posted.body.toString()), { got: { a: [1, 2] } });

    const boom = await get(link, '/boom');
    assert.equal(boom.outcome, 'end');
    assert.equal(boom.head!.status, 500);

    const missing = await get(link, '/nowhere');
    assert.equal(missing.outcome, 'end');
    assert.equal(missing.head!.status, 404);

    const last = await get(link, '/hello/x');
    assert.equal(last.head!.status, 200);
    assert.ok(link.idle);
    link.close();
  });
});
