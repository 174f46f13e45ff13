// portico worker --otel behind real nginx (worker/worker-tracing.ts): nginx passes the client's
// traceparent as HTTP_TRACEPARENT, the app gets it unchanged, and the worker's app span continues
// the client's trace, exported to an OTLP/HTTP collector stand-in.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Started } from '../../../support/child-process.js';
import { startNginx, type Nginx } from '../../../support/nginx.js';
import { startCollector, type Collector } from '../../../support/otlp-collector.js';
import { fixturesDir } from '../../../support/paths.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

describe('nginx -> portico worker --otel', { timeout: 60_000 }, () => {
  let tmp: ReturnType<typeof makeTmpDir> | undefined;
  let collector: Collector | undefined;
  let worker: Started | undefined;
  let nginx: Nginx | undefined;
  before(async () => {
    tmp = makeTmpDir('worker-tracing');
    collector = await startCollector();
    const socket = join(tmp.path, 'worker.sock');
    // nginx's workers run as nobody: the socket must be connectable by others.
    worker = await startWorker(join(fixturesDir, 'trace-apps', 'wsgi.mjs'), socket, ['--chmod-socket', '666', '--otel'], [], {
      ...process.env,
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '10',
    });
    nginx = await startNginx(tmp.path, socket);
  });
  after(async () => {
    await nginx?.stop();
    await worker?.stop();
    await collector?.close();
    tmp?.cleanup();
  });

  it("continues the client's trace: the app span's parent is the client's span", async () => {
    const traceId = randomBytes(16).toString('hex');
    const clientSpan = randomBytes(8).toString('hex');
    const traceparent = `00-${traceId}-${clientSpan}-01`;
    const res = await fetch(`${nginx!.url}/behind-nginx`, { headers: { traceparent, 'x-request-id': 'from-nginx-client' } });
    assert.equal(res.status, 200);
    const report = (await res.json()) as { traceparent: string; requestId: string };
    // No gateway: the app sees what nginx passed on: the client's traceparent, and nginx's own
    // $request_id in place of the client's X-Request-Id (the shipped locations).
    assert.equal(report.traceparent, traceparent);
    assert.match(report.requestId, /^[0-9a-f]{32}$/);
    await collector!.waitFor((c) => c.spans.some((s) => s.traceId === traceId && s.name === 'app'));
    const app = collector!.spans.find((s) => s.traceId === traceId && s.name === 'app')!;
    assert.equal(app.parentSpanId, clientSpan);
    assert.equal(app.attributes['url.path'], '/behind-nginx');
    assert.equal(app.attributes['portico.request_id'], report.requestId);
    assert.equal(app.resource['portico.role'], 'worker');
  });
});
