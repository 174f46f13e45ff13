import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AvroSchema } from '../../../protocol/link/bounded-avro.js';
import { HeadSchemas } from '../../../protocol/link/index.js';
import type { Started } from '../../../support/child-process.js';
import { fixturesDir } from '../../../support/paths.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { FROZEN_V1_JSON, NEXT_BUILD, type NextHead } from '../../support/head-schemas.js';
import { pattern } from '../../support/link-frames.js';
import { TestGatewayLink, startTestWorker, type TestWorker } from '../../support/link-loopback.js';
import { outputLine, startGateway, type HttpFront } from '../../support/portico-gateway.js';

// A rolling upgrade without a flag day (docs/protocol.md, "Versioning"): the gateway is upgraded
// first and keeps reading workers that still write the previous response-head schema, through
// Avro's resolution; a worker upgraded before its gateway is refused with the order to follow.
// A build one version ahead is stood for by NEXT_BUILD (the frozen v1 and a v2 with a new field).

describe("a gateway one version ahead in front of this build's portico worker", () => {
  const tmp = makeTmpDir('schema-ahead');
  const sock = join(tmp.path, 'w.sock');
  let worker: Started;
  before(async () => {
    worker = await startWorker(join(fixturesDir, 'fetch-app.mjs'), sock);
  });
  after(async () => {
    await worker?.stop();
    tmp.cleanup();
  });

  it('reads its v1 heads through the resolver, the new field at its default, bodies both ways on one link', async () => {
    const link = await TestGatewayLink.open(sock, NEXT_BUILD);
    assert.deepEqual([link.reader!.readerVersion, link.reader!.writerVersion], [2, 1]);
    assert.ok(link.reader!.resolver);
    const upload = pattern(300_000, 4);
    for (let i = 0; i < 3; i++) {
      const res = await link.request(
        '/echo',
        async (w) => {
          await w.body(upload.subarray(0, 100_000));
          await w.body(upload.subarray(100_000));
          w.end();
        },
        {
          headers: [
            ['Host', 'upgrade.test'],
            ['Content-Type', 'application/x-test'],
          ],
        },
      );
      assert.equal(res.outcome, 'end');
      assert.equal(res.head!.status, 200);
      assert.equal((res.head as NextHead).server, '');
      assert.ok(res.head!.headers.includes('application/x-test'));
      assert.ok(res.body.equals(upload));
    }
    link.close();
  });
});

describe("this build's portico gateway and workers of other schema versions", () => {
  const tmp = makeTmpDir('schema');
  const frozenSock = join(tmp.path, 'frozen-v1.sock');
  const aheadSock = join(tmp.path, 'ahead.sock');
  let frozen: TestWorker;
  let ahead: TestWorker;
  let gateway: HttpFront;
  before(async () => {
    // A worker built from the frozen copy of v1, not from this build's schema object.
    frozen = await startTestWorker(frozenSock, new HeadSchemas([[1, JSON.parse(FROZEN_V1_JSON) as AvroSchema]], 1));
    ahead = await startTestWorker(aheadSock, NEXT_BUILD);
    gateway = await startGateway([`portico://unix:${frozenSock}`]);
  });
  after(async () => {
    await gateway?.stop();
    await frozen?.close();
    await ahead?.close();
    tmp.cleanup();
  });

  it('reads heads written in the frozen v1 and streams the body, on one kept-alive link', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${gateway.url}/generate`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-kind'), 'generated');
      const body = Buffer.from(await res.arrayBuffer());
      assert.ok(body.equals(pattern(1024 * 1024 + 4099, 3)), 'body intact');
    }
    assert.equal(frozen.requests, 3);
    assert.equal(frozen.connections, 1);
  });

  it('streams an upload of unknown length to that worker and back', async () => {
    const { request } = await import('node:http');
    const chunks = [pattern(300_000, 1), pattern(200_000, 2), pattern(50_000, 5)];
    const echoed = await new Promise<Buffer>((resolve, reject) => {
      const req = request(`${gateway.url}/echo`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' } }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve(Buffer.concat(parts)));
        res.on('error', reject);
      });
      req.on('error', reject);
      for (const c of chunks) req.write(c);
      req.end();
    });
    assert.ok(echoed.equals(Buffer.concat(chunks)));
  });

  it('a worker one version ahead refuses it: 502 and one PORTICO_ERR_NATIVE_SCHEMA line saying to upgrade the gateway first', async () => {
    const front = await startGateway([`portico://unix:${aheadSock}`]);
    try {
      const res = await fetch(`${front.url}/generate`);
      assert.equal(res.status, 502);
      assert.equal(await res.text(), '502 PORTICO_ERR_NATIVE_SCHEMA\n');
      await outputLine(front.proc, /PORTICO_ERR_NATIVE_SCHEMA: .*the gateway reads v1; this worker writes v2: upgrade the gateway first, then the workers/);
      assert.equal(ahead.requests, 0);
    } finally {
      await front.stop();
    }
  });
});
