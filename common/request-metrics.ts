/*
 * Request counters kept as plain numbers in a Float64Array, so that counting a request is a few
 * stores and comparisons: the worker's main thread writes them into its scoreboard's
 * SharedArrayBuffer (read by the watchdog thread, which answers even while the app is stuck), the
 * gateway into a private array. Only the master, at scrape time, turns them into prom-client's
 * metrics-JSON shape; no prom-client object is touched on the request path.
 */

/** prom-client's default histogram buckets, in seconds. */
export const BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
const BUCKETS_MS = BUCKETS_SECONDS.map((s) => s * 1000);
const N_BUCKETS = BUCKETS_MS.length;
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** Layout: one count per status class, one per bucket (not cumulative), then sum (ms) and count. */
const BUCKET0 = STATUS_CLASSES.length;
const SUM_MS = BUCKET0 + N_BUCKETS;
const COUNT = SUM_MS + 1;
export const REQUEST_METRICS_LENGTH = COUNT + 1;

/** Status of a response whose client went away before its head was sent (nginx's 499). */
export const CLIENT_CLOSED = 499;

/** Counts one finished request; `counts` is REQUEST_METRICS_LENGTH long. */
export function recordRequest(counts: Float64Array, status: number, durationMs: number): void {
  const cls = ((status / 100) | 0) - 1;
  // No status at all means no head was ever written: the server's failure, so 5xx.
  counts[cls < 0 ? 4 : cls > 4 ? 4 : cls]!++;
  // Slower than the largest bucket: only +Inf, which is the count.
  let b = 0;
  while (b < N_BUCKETS && durationMs > BUCKETS_MS[b]!) b++;
  if (b < N_BUCKETS) counts[BUCKET0 + b]!++;
  counts[SUM_MS]! += durationMs;
  counts[COUNT]!++;
}

/** Element-wise `into += from` (several workers, or the workers that are gone). */
export function addCounts(into: number[], from: ArrayLike<number>): void {
  for (let i = 0; i < REQUEST_METRICS_LENGTH; i++) into[i] = (into[i] ?? 0) + (from[i] ?? 0);
}

/** One metric as registry.getMetricsAsJSON() returns it, what AggregatorRegistry.aggregate() takes. */
export interface PromMetricJSON {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  aggregator: 'sum';
  values: Array<{ labels: Record<string, string | number>; value: number; metricName?: string }>;
}

/** `prefix` names the metrics: portico (the workers) or portico_gateway. */
export function requestMetricsJSON(prefix: string, counts: ArrayLike<number>, inFlight: number, who: string): PromMetricJSON[] {
  const duration = `${prefix}_request_duration_seconds`;
  const count = counts[COUNT] ?? 0;
  const buckets: PromMetricJSON['values'] = [];
  let cumulative = 0;
  for (let b = 0; b < N_BUCKETS; b++) {
    cumulative += counts[BUCKET0 + b] ?? 0;
    buckets.push({ labels: { le: BUCKETS_SECONDS[b]! }, value: cumulative, metricName: `${duration}_bucket` });
  }
  buckets.push({ labels: { le: '+Inf' }, value: count, metricName: `${duration}_bucket` });
  return [
    {
      name: `${prefix}_requests_total`,
      help: `Requests answered by ${who}, by status class (499: the client went away before the response head)`,
      type: 'counter',
      aggregator: 'sum',
      values: STATUS_CLASSES.map((c, i) => ({ labels: { status_class: c }, value: counts[i] ?? 0 })),
    },
    {
      name: duration,
      help: `Time ${who} took per request, from its head to the end of its response`,
      type: 'histogram',
      aggregator: 'sum',
      values: [...buckets, { labels: {}, value: (counts[SUM_MS] ?? 0) / 1000, metricName: `${duration}_sum` }, { labels: {}, value: count, metricName: `${duration}_count` }],
    },
    gauge(`${prefix}_requests_in_flight`, `Requests in flight in ${who}`, inFlight),
  ];
}

export function gauge(name: string, help: string, value: number, labels: Record<string, string | number> = {}, type: 'gauge' | 'counter' = 'gauge'): PromMetricJSON {
  return { name, help, type, aggregator: 'sum', values: [{ labels, value }] };
}

/** A response as the counters see it: node:http's ServerResponse, or the gateway's lean one. */
interface TrackedResponse {
  readonly headersSent: boolean;
  readonly statusCode: number;
  once(event: 'close', listener: () => void): unknown;
}

/** The gateway's own counters: its forwarded requests as its clients saw them. */
export class RequestCounters {
  readonly counts = new Float64Array(REQUEST_METRICS_LENGTH);
  inFlight = 0;

  /** One listener per response; 'close' comes for a finished response and for a cut one alike. */
  track(res: TrackedResponse): void {
    const start = performance.now();
    this.inFlight++;
    res.once('close', () => {
      this.inFlight--;
      recordRequest(this.counts, res.headersSent ? res.statusCode : CLIENT_CLOSED, performance.now() - start);
    });
  }
}

/** The gateway's metrics for the master's scrape (serve): its requests and its wait queue. */
export function gatewayMetricsJSON(gateway: { requestMetrics: RequestCounters | null; queueDepth: number }): PromMetricJSON[] {
  const m = gateway.requestMetrics;
  return [
    ...(m ? requestMetricsJSON('portico_gateway', m.counts, m.inFlight, 'the gateway') : []),
    gauge('portico_gateway_queue_depth', 'Requests waiting in the gateway for a free upstream slot (--listen queue)', gateway.queueDepth),
  ];
}
