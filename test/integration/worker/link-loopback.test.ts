import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isPorticoError } from '../../../common/errors.js';
import { uwsgiRequest } from '../../../protocol/uwsgi/uwsgi-client.js';
import { NEXT_BUILD, type NextHead } from '../../support/head-schemas.js';
import { pattern, rng } from '../../support/link-frames.js';
import { TestGatewayLink, startTestWorker, type TestWorker } from '../../support/link-loopback.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

const GENERATED = pattern(1024 * 1024 + 4099, 3);

/** Header value by name from the flat name, value list. */
function header(headers: string[] | undefined, name: string): string | undefined {
  const i = headers?.findIndex((h, j) => j % 2 === 0 && h === name) ?? -1;
  return i === -1 ? undefined : headers![i + 1];
}

describe('native link over a unix socket', () => {
  const dir = makeTmpDir('native');
  const currentPath = join(dir.path, 'current.sock');
  const nextPath = join(dir.path, 'next.sock');
  let current: TestWorker;
  let next: TestWorker;

  before(async () => {
    current = await startTestWorker(currentPath);
    next = await startTestWorker(nextPath, NEXT_BUILD);
  });
  after(async () => {
    await current.close();
    await next.close();
    dir.cleanup();
  });

  it('serves sequential requests on ONE connection, bodies of unknown length streamed both ways', { timeout: 30_000 }, async () => {
    const link = await TestGatewayLink.open(currentPath);
    assert.equal(link.reader!.writerVersion, 1);
    const rand = rng(7);

    // 1 MiB up in uneven chunks; the worker echoes each piece as it arrives. Half-way the gateway
    // waits for echoed bytes before sending more: a side that buffered the body would hang here.
    const upload = pattern(1024 * 1024, 9);
    const echo = await link.request('/echo', async (w) => {
      let pos = 0;
      while (pos < upload.length) {
        const n = 1 + Math.floor(rand() * 20_000);
        await w.body(upload.subarray(pos, pos + n));
        pos += n;
        if (pos >= upload.length / 2 && pos - n < upload.length / 2) await w.received(1);
      }
      w.end();
    });
    assert.equal(echo.outcome, 'end');
    assert.equal(echo.head!.status, 200);
    assert.equal(header(echo.head!.headers, 'x-content-length'), 'null', 'no CONTENT_LENGTH: length unknown to the worker');
    assert.ok(echo.body.equals(upload), 'the echoed body is the uploaded one, byte for byte');

    const generated = await link.request('/generate');
    assert.equal(generated.outcome, 'end');
    assert.equal(header(generated.head!.headers, 'x-kind'), 'generated');
    assert.ok(generated.body.equals(GENERATED));

    // The worker fails mid-body: the gateway sees RESPONSE_ABORT (and would abort its client).
    const failed = await link.request('/fail');
    assert.equal(failed.outcome, 'abort');
    assert.match(failed.reason, /boom/);
    assert.equal(failed.body.toString(), 'partial body');

    // The client goes away mid-upload: REQUEST_ABORT, answered by RESPONSE_ABORT.
    const held = await link.request('/hold', async (w) => {
      await w.body(pattern(1000));
      w.abort('client went away');
    });
    assert.deepEqual([held.outcome, held.reason], ['abort', 'client aborted']);

    const again = await link.request('/echo', async (w) => {
      await w.body(Buffer.from('still in step'));
      w.end();
    });
    assert.equal(again.body.toString(), 'still in step');
    assert.ok(link.idle);
    assert.equal(current.connections, 1, 'every request went over the one connection');
    assert.equal(current.requests, 5);
    link.close();
  });

  it("a gateway one version ahead reads this build's worker over the socket, and its own version directly", async () => {
    const link = await TestGatewayLink.open(currentPath, NEXT_BUILD);
    assert.deepEqual([link.reader!.writerVersion, link.reader!.readerVersion], [1, 2]);
    for (let i = 0; i < 3; i++) {
      const res = await link.request('/generate');
      assert.equal(res.outcome, 'end');
      assert.equal((res.head as NextHead).server, '', 'v1 has no server field: the v2 default');
      assert.ok(res.body.equals(GENERATED));
    }
    link.close();
    const same = await TestGatewayLink.open(nextPath, NEXT_BUILD);
    assert.equal(((await same.request('/generate')).head as NextHead).server, 'loopback');
    same.close();
  });

  it("a worker one version ahead refuses this build's gateway with a coded error: upgrade the gateway first", async () => {
    await assert.rejects(TestGatewayLink.open(nextPath), (err: unknown) => isPorticoError(err) && err.code === 'PORTICO_ERR_NATIVE_SCHEMA' && /upgrade the gateway first/.test(err.message));
  });

  it('the same socket still answers plain uwsgi packets (nginx)', async () => {
    const res = await uwsgiRequest({ socket: currentPath, path: '/' });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'plain');
  });
});
