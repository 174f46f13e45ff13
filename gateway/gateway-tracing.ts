/**
 * The gateway's spans (--otel): loaded with import() only when tracing is on. Per forwarded
 * request, a server span `gateway receive` (child of the client's traceparent, if any) from the
 * request to its response's close; `queue wait` while it waits for an upstream slot; `link`
 * (client kind) from the moment its vars are built for a worker to the close, whose id is the
 * parent the worker and the app see in their traceparent. A retried request gets one link span
 * per attempt.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type TextMapGetter, type TextMapSetter } from '@opentelemetry/api';
import type { Logger } from '../common/logger.js';
import type { OtelSettings } from '../common/otel-config.js';
import { startOtel, type Otel } from '../common/otel-sdk.js';
import type { ForwardedRequest, ForwardedResponse } from './forwarding/forward-types.js';

interface RequestSpans {
  readonly context: Context;
  link: Span | null;
}

/**
 * Each request's spans ride on the request itself: a WeakMap entry per request cost more than the
 * spans' own bookkeeping (its ephemerons keep the garbage collector busy). Only traced requests get it.
 */
const SPANS = Symbol('portico.spans');
type Traced = ForwardedRequest & { [SPANS]?: RequestSpans };

/** Header names are matched without case; rawHeaders is name, value, name, value... */
const rawHeaderGetter: TextMapGetter<readonly string[]> = {
  get(raw, key) {
    for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === key.length && raw[i]!.toLowerCase() === key) return raw[i + 1];
    return undefined;
  },
  keys(raw) {
    const names: string[] = [];
    for (let i = 0; i < raw.length; i += 2) names.push(raw[i]!.toLowerCase());
    return names;
  },
};

const pushHeader: TextMapSetter<string[]> = {
  set(headers, key, value) {
    headers.push(key, value);
  },
};

export class GatewayTracing {
  private readonly otel: Otel;

  constructor(settings: OtelSettings, log: Logger) {
    this.otel = startOtel(settings, 'gateway', log, false);
  }

  /** A request to forward arrived: its server span starts, and ends when its response closes. */
  receive(req: ForwardedRequest, res: ForwardedResponse): void {
    const parent = this.otel.propagator.extract(ROOT_CONTEXT, req.rawHeaders, rawHeaderGetter);
    const span = this.otel.tracer.startSpan('gateway receive', { kind: SpanKind.SERVER }, parent);
    const spans: RequestSpans = { context: trace.setSpan(parent, span), link: null };
    (req as Traced)[SPANS] = spans;
    // A span the sampler dropped is not recorded, nor are those under it: nothing to add or end.
    if (!span.isRecording()) return;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    span.setAttributes({
      'http.request.method': req.method ?? 'GET',
      'url.path': q === -1 ? url : url.slice(0, q),
      'network.protocol.version': req.httpVersion,
      'client.address': req.socket.remoteAddress ?? '',
    });
    res.once('close', () => {
      // 499 as nginx logs it: the client went away before its answer.
      const status = res.headersSent ? res.statusCode : 499;
      if (req.requestId !== undefined) span.setAttribute('portico.request_id', req.requestId);
      if (spans.link !== null) end(spans.link, status);
      end(span, status);
    });
  }

  /** The request waits for an upstream slot: the returned function ends the wait's span. */
  queueWait(req: ForwardedRequest): () => void {
    const spans = (req as Traced)[SPANS];
    if (spans === undefined) return noop;
    const span = this.otel.tracer.startSpan('queue wait', { kind: SpanKind.INTERNAL }, spans.context);
    return () => span.end();
  }

  /**
   * The request goes to a worker: a link span starts (ending the previous attempt's) and its
   * traceparent (and the client's tracestate) is pushed to `headers`. false: a request `receive`
   * never saw (an upgrade), whose trace headers pass as they came.
   */
  link(req: ForwardedRequest, headers: string[]): boolean {
    const spans = (req as Traced)[SPANS];
    if (spans === undefined) return false;
    // An attempt given up (a worker that went away before it answered): the retry gets its own span.
    if (spans.link !== null) {
      spans.link.setAttribute('portico.retried', true);
      spans.link.end();
    }
    const span = this.otel.tracer.startSpan('link', { kind: SpanKind.CLIENT }, spans.context);
    spans.link = span;
    this.otel.propagator.inject(trace.setSpan(spans.context, span), headers, pushHeader);
    return true;
  }

  shutdown(): Promise<void> {
    return this.otel.shutdown();
  }
}

function end(span: Span, status: number): void {
  span.setAttribute('http.response.status_code', status);
  if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
}

function noop(): void {}
