// W3C trace context through `portico serve` (gateway/gateway-tracing.ts, worker/worker-tracing.ts):
// with --otel, an OTLP/HTTP collector stand-in gets the gateway's spans and the worker's for one
// request under one trace id, and the app's traceparent names the gateway's link span as parent;
// without it the app gets the client's traceparent unchanged and its worker has loaded no
// OpenTelemetry module at all (recorded by Node's module hooks, preloaded with --import).
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startCollector, type CollectedSpan, type Collector } from '../../../support/otlp-collector.js';
import { fixturesDir } from '../../../support/paths.js';
import { startServe, type HttpFront } from '../../support/portico-gateway.js';

const appsDir = join(fixturesDir, 'trace-apps');
const KINDS = ['fetch', 'node', 'wsgi'] as const;
const preload = `--import ${pathToFileURL(join(appsDir, 'record-modules.mjs')).href}`;

interface Report {
  traceparent: string | null;
  tracestate: string | null;
  requestId: string | null;
  hooked: boolean;
  otel: string[];
}

async function ask(front: HttpFront, headers: Record<string, string>): Promise<Report> {
  const res = await fetch(`${front.url}/traced?x=1`, { headers });
  assert.equal(res.status, 200);
  return (await res.json()) as Report;
}

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

/** The spans of one trace once its gateway and worker spans are all in. */
async function traceOf(collector: Collector, traceId: string): Promise<Map<string, CollectedSpan>> {
  const names = ['gateway receive', 'link', 'app'];
  await collector.waitFor((c) => names.every((n) => c.spans.some((s) => s.traceId === traceId && s.name === n)));
  return new Map(collector.spans.filter((s) => s.traceId === traceId).map((s) => [s.name, s]));
}

/**
 * `portico serve APP ...args` exporting to a collector stand-in, for the describe it is called in.
 * Batches leave at once (OTEL_BSP_SCHEDULE_DELAY), so a test waits for the export, not a 5 s timer.
 */
function servedWithCollector(app: string, args: string[], env: NodeJS.ProcessEnv = {}): { front(): HttpFront; collector(): Collector } {
  let collector: Collector | undefined;
  let front: HttpFront | undefined;
  before(async () => {
    collector = await startCollector();
    front = await startServe(join(appsDir, app), args, { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, OTEL_BSP_SCHEDULE_DELAY: '10', ...env });
  });
  after(async () => {
    await front?.stop();
    await collector?.close();
  });
  return { front: () => front!, collector: () => collector! };
}

for (const kind of KINDS) {
  describe(`portico serve --otel, a ${kind}-kind app`, { timeout: 60_000 }, () => {
    const served = servedWithCollector(`${kind}.mjs`, ['--otel'], { NODE_OPTIONS: preload, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_SERVICE_NAME: 'trace-test' });

    it("continues the client's trace: gateway receive -> link -> app, and the app's traceparent names the link span", async () => {
      const traceId = hex(16);
      const clientSpan = hex(8);
      const report = await ask(served.front(), { traceparent: `00-${traceId}-${clientSpan}-01`, tracestate: 'vendor=abc' });
      const [, appTrace, appParent, flags] = report.traceparent!.split('-');
      assert.equal(appTrace, traceId);
      assert.notEqual(appParent, clientSpan);
      assert.equal(flags, '01');
      assert.equal(report.tracestate, 'vendor=abc');
      const spans = await traceOf(served.collector(), traceId);
      const receive = spans.get('gateway receive')!;
      const link = spans.get('link')!;
      const app = spans.get('app')!;
      assert.equal(receive.parentSpanId, clientSpan);
      assert.equal(link.parentSpanId, receive.spanId);
      assert.equal(appParent, link.spanId);
      assert.equal(app.parentSpanId, link.spanId);
      // SERVER, CLIENT, SERVER (OTLP's SpanKind numbers).
      assert.deepEqual([receive.kind, link.kind, app.kind], [2, 3, 2]);
      assert.equal(receive.resource['portico.role'], 'gateway');
      assert.equal(app.resource['portico.role'], 'worker');
      assert.notEqual(receive.resource['process.pid'], app.resource['process.pid']);
      assert.equal(receive.resource['service.name'], 'trace-test');
      assert.equal(receive.attributes['http.request.method'], 'GET');
      assert.equal(receive.attributes['url.path'], '/traced');
      assert.equal(receive.attributes['http.response.status_code'], 200);
      assert.equal(app.attributes['http.response.status_code'], 200);
      // One request id for the app, the gateway's span and the worker's.
      assert.equal(receive.attributes['portico.request_id'], report.requestId);
      assert.equal(app.attributes['portico.request_id'], report.requestId);
      // The positive control of the "nothing loaded" check below: here the worker did load the SDK.
      assert.ok(report.hooked);
      assert.ok(report.otel.includes('@opentelemetry/sdk-trace'), report.otel.join(', '));
    });

    it("follows the client's sampling decision: a trace it does not sample is passed on (new parent, flags 00), and no span of it exported", async () => {
      const unsampled = hex(16);
      const clientSpan = hex(8);
      const report = await ask(served.front(), { traceparent: `00-${unsampled}-${clientSpan}-00` });
      const [, appTrace, appParent, flags] = report.traceparent!.split('-');
      assert.deepEqual([appTrace, flags], [unsampled, '00']);
      assert.notEqual(appParent, clientSpan);
      // A sampled request after it: once its spans are in, the batches that would hold the other's are too.
      const sampled = hex(16);
      await ask(served.front(), { traceparent: `00-${sampled}-${hex(8)}-01` });
      await traceOf(served.collector(), sampled);
      assert.deepEqual(
        served.collector().spans.filter((s) => s.traceId === unsampled),
        [],
      );
    });

    it('starts a trace for a request that brings none', async () => {
      const report = await ask(served.front(), {});
      const [version, traceId, parent] = report.traceparent!.split('-');
      assert.equal(version, '00');
      const spans = await traceOf(served.collector(), traceId!);
      assert.equal(spans.get('gateway receive')!.parentSpanId, '');
      assert.equal(parent, spans.get('link')!.spanId);
      assert.equal(report.tracestate, null);
    });
  });

  describe(`portico serve without --otel, a ${kind}-kind app`, { timeout: 60_000 }, () => {
    let front: HttpFront | undefined;
    before(async () => {
      front = await startServe(join(appsDir, `${kind}.mjs`), [], { ...process.env, NODE_OPTIONS: preload });
    });
    after(() => front?.stop());

    it('passes traceparent and tracestate on unchanged, and its worker loaded no OpenTelemetry module', async () => {
      const traceparent = `00-${hex(16)}-${hex(8)}-01`;
      const report = await ask(front!, { traceparent, tracestate: 'vendor=abc' });
      assert.equal(report.traceparent, traceparent);
      assert.equal(report.tracestate, 'vendor=abc');
      assert.ok(report.hooked, 'the module hooks ran in the worker');
      assert.deepEqual(report.otel, []);
    });
  });
}

describe('portico serve --otel, a request that waits for a free upstream', { timeout: 60_000 }, () => {
  const served = servedWithCollector('fetch.mjs', ['--otel', '--upstream-concurrency', '1'], { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' });

  it('gets a queue wait span under its gateway receive span', async () => {
    const held = fetch(`${served.front().url}/hold`);
    const [, pid] = await served.front().proc.waitFor(/holding \/hold in (\d+)/);
    const traceId = hex(16);
    const waiting = ask(served.front(), { traceparent: `00-${traceId}-${hex(8)}-01` });
    await served.front().proc.waitFor(/requests are queueing/);
    process.kill(Number(pid), 'SIGUSR2');
    assert.equal((await held).status, 200);
    await waiting;
    await served.collector().waitFor((c) => c.spans.some((s) => s.traceId === traceId && s.name === 'queue wait'));
    const spans = await traceOf(served.collector(), traceId);
    const wait = spans.get('queue wait')!;
    assert.equal(wait.parentSpanId, spans.get('gateway receive')!.spanId);
    assert.equal(wait.kind, 1);
  });
});

describe('portico serve --otel --link uwsgi', { timeout: 60_000 }, () => {
  const served = servedWithCollector('fetch.mjs', ['--otel', '--link', 'uwsgi'], { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' });

  it("traces the same over uwsgi packets (node:http's path in the gateway): the app's parent is the link span", async () => {
    const traceId = hex(16);
    const report = await ask(served.front(), { traceparent: `00-${traceId}-${hex(8)}-01` });
    const spans = await traceOf(served.collector(), traceId);
    assert.equal(report.traceparent!.split('-')[2], spans.get('link')!.spanId);
    assert.equal(spans.get('app')!.parentSpanId, spans.get('link')!.spanId);
    assert.equal(spans.get('gateway receive')!.attributes['portico.request_id'], report.requestId);
  });
});

describe("portico serve --otel, an app's own @opentelemetry/api span", { timeout: 60_000 }, () => {
  const served = servedWithCollector('own-span.mjs', ['--otel'], { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' });

  it("nests under the worker's app span, across an await, and leaves with the worker's spans", async () => {
    const traceId = hex(16);
    assert.equal((await fetch(`${served.front().url}/`, { headers: { traceparent: `00-${traceId}-${hex(8)}-01` } })).status, 200);
    await served.collector().waitFor((c) => c.spans.some((s) => s.traceId === traceId && s.name === 'query'));
    const spans = await traceOf(served.collector(), traceId);
    assert.equal(spans.get('query')!.parentSpanId, spans.get('app')!.spanId);
  });
});

describe('portico serve --otel with the default protocol', { timeout: 60_000 }, () => {
  // No --otel: OTEL_EXPORTER_OTLP_ENDPOINT alone turns tracing on.
  const served = servedWithCollector('fetch.mjs', []);

  it('sends OTLP as protobuf (http/protobuf), from the gateway and the worker, with the trace id in both', async () => {
    const traceId = hex(16);
    await ask(served.front(), { traceparent: `00-${traceId}-${hex(8)}-01` });
    const id = Buffer.from(traceId, 'hex');
    // A byte search, not a decoder: two exports (gateway, worker) each carrying the 16-byte id.
    await served.collector().waitFor((c) => c.raw.filter((r) => r.body.includes(id)).length >= 2);
    for (const r of served.collector().raw) assert.equal(r.contentType, 'application/x-protobuf');
  });
});
