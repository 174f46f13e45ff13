import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pattern } from './support/native-frames.js';
import { startTestWorker, type TestWorker } from './support/native-loopback.js';
import { startGateway, type HttpFront } from './support/portico-gateway.js';
import { makeTmpDir } from '../support/tmp-dir.js';

// A rolling upgrade without a flag day: the gateway is upgraded first and must keep talking to
// workers that still write the previous response-head schema (docs/protocol.md, "Versioning").
describe('a current gateway in front of a worker one schema version older', () => {
  const tmp = makeTmpDir('schema');
  const sock = join(tmp.path, 'v1-worker.sock');
  let worker: TestWorker;
  let gateway: HttpFront;
  before(async () => {
    worker = await startTestWorker(sock, 1);
    gateway = await startGateway([`portico://unix:${sock}`]);
  });
  after(async () => {
    await gateway?.stop();
    await worker?.close();
    tmp.cleanup();
  });

  it('reads v1 heads through the resolver and streams the body, on one kept-alive link', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${gateway.url}/generate`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-kind'), 'generated');
      const body = Buffer.from(await res.arrayBuffer());
      assert.ok(body.equals(pattern(1024 * 1024 + 4099, 3)), 'body intact');
    }
    assert.equal(worker.requests, 3);
    assert.equal(worker.connections, 1);
  });

  it('streams an upload of unknown length to the v1 worker and back', async () => {
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
});
