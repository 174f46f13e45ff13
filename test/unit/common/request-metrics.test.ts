// The request counters (common/request-metrics.ts): a request costs a few stores into a
// Float64Array, counted by status class and by prom-client's default duration buckets; at scrape
// time they become prom-client's metrics JSON, which prom-client's own AggregatorRegistry sums
// across processes into the exposition Prometheus reads.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { AggregatorRegistry } from 'prom-client';
import { BUCKETS_SECONDS, CLIENT_CLOSED, REQUEST_METRICS_LENGTH, RequestCounters, addCounts, gatewayMetricsJSON, recordRequest, requestMetricsJSON } from '../../../common/request-metrics.js';

/** The values of an exposition's lines for `name`, by their labels. */
function samples(text: string, name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(\w+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name) out[m[2] ?? ''] = Number(m[3]);
  }
  return out;
}

describe('recordRequest', () => {
  it('counts the status class; no status, or one past 5xx, counts as 5xx', () => {
    const counts = new Float64Array(REQUEST_METRICS_LENGTH);
    for (const status of [101, 200, 204, 302, 404, CLIENT_CLOSED, 500, 0, 600]) recordRequest(counts, status, 1);
    assert.deepEqual([...counts.subarray(0, 5)], [1, 2, 1, 2, 3]);
  });

  it('a duration goes in the first bucket it fits (a bound is inclusive); past the last, only the count has it', async () => {
    const counts = new Float64Array(REQUEST_METRICS_LENGTH);
    for (const ms of [0, 5, 5.001, 10_000, 10_001]) recordRequest(counts, 200, ms);
    const registry = AggregatorRegistry.aggregate([requestMetricsJSON('t', counts, 0, 'the test')]);
    const buckets = samples(await registry.metrics(), 't_request_duration_seconds_bucket');
    assert.equal(buckets['{le="0.005"}'], 2, '0 and exactly 5 ms');
    assert.equal(buckets['{le="0.01"}'], 3, 'cumulative');
    assert.equal(buckets['{le="10"}'], 4, 'exactly 10 s');
    assert.equal(buckets['{le="+Inf"}'], 5);
    assert.equal(Object.keys(buckets).length, BUCKETS_SECONDS.length + 1);
    const text = await registry.metrics();
    assert.equal(samples(text, 't_request_duration_seconds_count')[''], 5);
    assert.ok(Math.abs(samples(text, 't_request_duration_seconds_sum')['']! - 20.011001) < 1e-9, 'the sum in seconds');
  });
});

describe('across processes', () => {
  it('addCounts sums element-wise, and prom-client sums the JSON of two processes the same way', async () => {
    const a = new Float64Array(REQUEST_METRICS_LENGTH);
    const b = new Float64Array(REQUEST_METRICS_LENGTH);
    recordRequest(a, 200, 3);
    recordRequest(b, 503, 300);
    recordRequest(b, 201, 3);
    const sum: number[] = [];
    addCounts(sum, a);
    addCounts(sum, b);
    const merged = samples(await AggregatorRegistry.aggregate([requestMetricsJSON('w', sum, 3, 'x')]).metrics(), 'w_requests_total');
    const aggregated = samples(await AggregatorRegistry.aggregate([requestMetricsJSON('w', a, 1, 'x'), requestMetricsJSON('w', b, 2, 'x')]).metrics(), 'w_requests_total');
    assert.deepEqual(merged, aggregated);
    assert.deepEqual(merged, { '{status_class="1xx"}': 0, '{status_class="2xx"}': 2, '{status_class="3xx"}': 0, '{status_class="4xx"}': 0, '{status_class="5xx"}': 1 });
  });
});

describe('RequestCounters (the gateway)', () => {
  /** A response as the counters see it. */
  class Res extends EventEmitter {
    headersSent = false;
    statusCode = 200;
  }

  it('in flight until the response closes; then its status, or 499 when no head was sent', async () => {
    const counters = new RequestCounters();
    const answered = new Res();
    const cut = new Res();
    counters.track(answered);
    counters.track(cut);
    assert.equal(counters.inFlight, 2);
    answered.headersSent = true;
    answered.statusCode = 302;
    answered.emit('close');
    cut.statusCode = 200; // set, but never sent
    cut.emit('close');
    assert.equal(counters.inFlight, 0);
    const text = await AggregatorRegistry.aggregate([gatewayMetricsJSON({ requestMetrics: counters, queueDepth: 4 })]).metrics();
    assert.deepEqual(samples(text, 'portico_gateway_requests_total'), {
      '{status_class="1xx"}': 0,
      '{status_class="2xx"}': 0,
      '{status_class="3xx"}': 1,
      '{status_class="4xx"}': 1,
      '{status_class="5xx"}': 0,
    });
    assert.deepEqual(samples(text, 'portico_gateway_queue_depth'), { '': 4 });
    assert.deepEqual(samples(text, 'portico_gateway_requests_in_flight'), { '': 0 });
  });

  it('without counters (no --metrics), only the queue depth', () => {
    assert.deepEqual(
      gatewayMetricsJSON({ requestMetrics: null, queueDepth: 0 }).map((m) => m.name),
      ['portico_gateway_queue_depth'],
    );
  });
});
