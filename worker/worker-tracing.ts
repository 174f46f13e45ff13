/**
 * The worker's spans (--otel): loaded with import() only when tracing is on. Each request's `app`
 * span (server kind) is a child of the traceparent its vars carry (the gateway's link span, or
 * whatever nginx passed on), from the request to the end of its response. The app runs inside
 * it: the provider is registered globally with an AsyncLocalStorage context manager, so spans the
 * app makes with @opentelemetry/api nest under it and go out with the worker's.
 */
import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type TextMapGetter } from '@opentelemetry/api';
import type { Logger } from '../common/logger.js';
import type { OtelSettings } from '../common/otel-config.js';
import { startOtel, type Otel } from '../common/otel-sdk.js';
import type { UwsgiVars } from '../protocol/uwsgi/uwsgi-vars.js';
import type { Exchange } from './exchange/exchange.js';
import type { RequestHandler } from './worker-context.js';

export interface WorkerTracing {
  /** The app's handler, each request in its span. */
  wrap(handler: RequestHandler): RequestHandler;
  shutdown(): Promise<void>;
}

/** traceparent is HTTP_TRACEPARENT among the vars. */
const varsGetter: TextMapGetter<UwsgiVars> = {
  get: (vars, key) => vars.get(`HTTP_${key.toUpperCase()}`),
  keys: () => ['traceparent', 'tracestate'],
};

export function workerTracing(settings: OtelSettings, log: Logger): WorkerTracing {
  const otel: Otel = startOtel(settings, 'worker', log, true);
  return {
    wrap(handler) {
      const traced: RequestHandler = (ex: Exchange) => {
        const vars = ex.vars;
        const parent = otel.propagator.extract(ROOT_CONTEXT, vars, varsGetter);
        const span = otel.tracer.startSpan('app', { kind: SpanKind.SERVER }, parent);
        // A span the sampler dropped gets no attributes and no end (both would be no-ops).
        if (span.isRecording()) {
          span.setAttributes({
            'http.request.method': ex.method,
            'url.path': vars.get('PATH_INFO') ?? '',
            'portico.request_id': vars.get('HTTP_X_REQUEST_ID') ?? '',
          });
          ex.whenDone(() => {
            const status = ex.aborted && !ex.headSent ? 499 : ex.status;
            span.setAttribute('http.response.status_code', status);
            if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
            span.end();
          });
        }
        return context.with(trace.setSpan(parent, span), handler, undefined, ex);
      };
      if (handler.upgrade) traced.upgrade = handler.upgrade;
      return traced;
    },
    shutdown: () => otel.shutdown(),
  };
}
