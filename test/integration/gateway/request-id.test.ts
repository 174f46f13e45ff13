// X-Request-Id through the gateway (gateway/forwarding/http-request-vars.ts requestIdOf, gateway/front/access-log.ts):
// a request without one gets a new id, a trusted proxy's (--trusted-proxies, loopback by default)
// is kept, anyone else's replaced; the app (fetch, node and wsgi kinds alike) sees the id, and the
// gateway's access line for the request ends with the same id.
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Started } from '../../../support/child-process.js';
import { fixturesDir } from '../../../support/paths.js';
import { outputLine, startGateway, startServe, type HttpFront } from '../../support/portico-gateway.js';
import { startWorker } from '../../../support/portico-worker.js';
import { GATEWAY_SITE, startNginx } from '../../../support/nginx.js';
import { sendRaw } from '../../support/raw-exchange.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

const appsDir = join(fixturesDir, 'trace-apps');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function appId(front: HttpFront, path: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(`${front.url}${path}`, { headers });
  assert.equal(res.status, 200);
  return ((await res.json()) as { requestId: string }).requestId;
}

/** The gateway's access line for `path`, and the id it ends with. */
async function loggedId(front: HttpFront, path: string): Promise<string> {
  const m = await outputLine(front.proc, new RegExp(`"GET ${path} HTTP/1\\.1" \\d+ \\S+ "[^"]*" "[^"]*" "([^"]*)"$`, 'm'));
  return m[1]!;
}

for (const kind of ['fetch', 'node', 'wsgi'] as const) {
  describe(`X-Request-Id, portico gateway -> portico worker, a ${kind}-kind app`, { timeout: 60_000 }, () => {
    let tmp: ReturnType<typeof makeTmpDir> | undefined;
    let worker: Started | undefined;
    let trusting: HttpFront | undefined;
    let distrusting: HttpFront | undefined;
    before(async () => {
      tmp = makeTmpDir(`request-id-${kind}`);
      const sock = join(tmp.path, 'w.sock');
      worker = await startWorker(join(appsDir, `${kind}.mjs`), sock);
      [trusting, distrusting] = await Promise.all([
        startGateway([`portico://unix:${sock}`]),
        // The test's client is on loopback: not one of these.
        startGateway([`portico://unix:${sock}`], ['--trusted-proxies', '10.0.0.0/8']),
      ]);
    });
    after(async () => {
      await Promise.all([trusting?.stop(), distrusting?.stop()]);
      await worker?.stop();
      tmp?.cleanup();
    });

    it('a request without one gets a new id, the same for the app and the access line', async () => {
      const id = await appId(trusting!, '/none');
      assert.match(id, UUID);
      assert.equal(await loggedId(trusting!, '/none'), id);
      assert.notEqual(await appId(trusting!, '/none-again'), id);
    });

    it("a trusted proxy's id is kept (the first, when it sent two)", async () => {
      assert.equal(await appId(trusting!, '/trusted', { 'x-request-id': 'edge-42' }), 'edge-42');
      assert.equal(await loggedId(trusting!, '/trusted'), 'edge-42');
      const two = await sendRaw(trusting!.port, Buffer.from('GET /two HTTP/1.1\r\nHost: x\r\nX-Request-Id: edge-1\r\nX-Request-Id: edge-2\r\nConnection: close\r\n\r\n'), {
        split: 'whole',
        expect: 1,
      });
      assert.equal(JSON.parse(two.responses[0]!.body.toString()).requestId, 'edge-1');
      assert.equal(await loggedId(trusting!, '/two'), 'edge-1');
    });

    it("anyone else's is replaced, and not passed on beside the new one", async () => {
      const id = await appId(distrusting!, '/forged', { 'x-request-id': 'forged-1' });
      assert.match(id, UUID);
      assert.equal(await loggedId(distrusting!, '/forged'), id);
    });
  });
}

describe('X-Request-Id under portico serve', { timeout: 60_000 }, () => {
  let front: HttpFront | undefined;
  before(async () => {
    front = await startServe(join(appsDir, 'fetch.mjs'), ['--log-format', 'worker-line %(method) %(uri) %(status) id=%(var.HTTP_X_REQUEST_ID)']);
  });
  after(() => front?.stop());

  it("reaches the app and the worker's request line (%(var.HTTP_X_REQUEST_ID)); a gateway's own answer logs one too", async () => {
    const id = await appId(front!, '/served');
    await outputLine(front!.proc, new RegExp(`^worker-line GET /served 200 id=${id}$`, 'm'));
    assert.equal(await appId(front!, '/kept', { 'x-request-id': 'edge-7' }), 'edge-7');
    // A 413 the gateway answers itself: its access line carries the trusted proxy's id.
    const big = await sendRaw(front!.port, Buffer.from('POST /big HTTP/1.1\r\nHost: x\r\nX-Request-Id: edge-8\r\nContent-Length: 99999999999\r\n\r\n'), { split: 'whole', expect: 1 });
    assert.equal(big.responses[0]?.status, 413);
    await outputLine(front!.proc, /"POST \/big HTTP\/1\.1" 413 \S+ "-" "-" "edge-8"$/m);
  });
});

describe("X-Request-Id behind nginx with the shipped locations: nginx's $request_id, in place of the client's", { timeout: 60_000 }, () => {
  it('nginx uwsgi_pass -> portico worker, and nginx proxy_pass -> portico serve (the gateway keeps it)', async () => {
    const tmp = makeTmpDir('request-id-nginx');
    const sock = join(tmp.path, 'w.sock');
    const worker = await startWorker(join(appsDir, 'fetch.mjs'), sock, ['--chmod-socket', '666']);
    const serve = await startServe(join(appsDir, 'fetch.mjs'));
    const [toWorker, toServe] = await Promise.all([startNginx(join(tmp.path, 'uwsgi'), sock), startNginx(join(tmp.path, 'proxy'), `127.0.0.1:${serve.port}`, '', GATEWAY_SITE)]);
    try {
      for (const front of [toWorker, toServe]) {
        const res = await fetch(`${front.url}/via-nginx`, { headers: { 'x-request-id': 'forged-by-client' } });
        const id = ((await res.json()) as { requestId: string }).requestId;
        assert.match(id, /^[0-9a-f]{32}$/, front.url);
      }
    } finally {
      await Promise.all([toWorker.stop(), toServe.stop()]);
      await Promise.all([worker.stop(), serve.stop()]);
      tmp.cleanup();
    }
  });
});
