/**
 * The OpenTelemetry SDK, set up for one portico process. Imported only by gateway/gateway-tracing.ts
 * and worker/worker-tracing.ts, which are themselves loaded with import() when tracing is on
 * (common/otel-config.ts): with it off, none of this, and no @opentelemetry module, is loaded.
 */
import { context, propagation, trace, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { getNumberFromEnv, getStringFromEnv, setGlobalErrorHandler, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as OTLPJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
  type SpanExporter,
} from '@opentelemetry/sdk-trace';
import type { Logger } from './logger.js';
import type { OtelSettings } from './otel-config.js';
import { PORTICO_VERSION } from './version.js';

export interface Otel {
  readonly tracer: Tracer;
  readonly propagator: W3CTraceContextPropagator;
  /** Sends what is still batched; at stop. */
  shutdown(): Promise<void>;
}

/** An unreachable collector is one line a minute, not one per batch. */
const EXPORT_ERROR_EVERY_MS = 60_000;
/** What a stop waits for the last spans to leave: a collector that is down must not hold a restart. */
const SHUTDOWN_WAIT_MS = 2000;

/**
 * A tracer provider exporting in batches (the OTEL_BSP_* variables apply), sampled as
 * OTEL_TRACES_SAMPLER says (parent-based always-on by default), for service OTEL_SERVICE_NAME
 * (default "portico"). `global`: the worker registers it, with an AsyncLocalStorage context
 * manager, so that an app's own @opentelemetry/api spans nest under the request's span.
 */
export function startOtel(settings: OtelSettings, role: 'gateway' | 'worker', log: Logger, global: boolean): Otel {
  let lastError = 0;
  let dropped = 0;
  setGlobalErrorHandler((err) => {
    const now = Date.now();
    if (now - lastError < EXPORT_ERROR_EVERY_MS) {
      dropped++;
      return;
    }
    const more = dropped > 0 ? ` (${dropped} more since the last line)` : '';
    lastError = now;
    dropped = 0;
    log.error('PORTICO_ERR_OTEL_EXPORT', `${role} ${process.pid}: ${err instanceof Error ? err.message : String(err)}${more}`);
  });
  const resource = defaultResource()
    .merge(resourceFromAttributes({ 'service.name': 'portico', 'service.version': PORTICO_VERSION, 'process.pid': process.pid, 'portico.role': role }))
    .merge(detectResources({ detectors: [envDetector] }));
  const provider = new TracerProvider({
    resource,
    sampler: samplerFromEnv(),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: exporterFor(settings),
        scheduledDelayMillis: getNumberFromEnv('OTEL_BSP_SCHEDULE_DELAY'),
        exportTimeoutMillis: getNumberFromEnv('OTEL_BSP_EXPORT_TIMEOUT'),
        maxQueueSize: getNumberFromEnv('OTEL_BSP_MAX_QUEUE_SIZE'),
        maxExportBatchSize: getNumberFromEnv('OTEL_BSP_MAX_EXPORT_BATCH_SIZE'),
      }),
    ],
  });
  const propagator = new W3CTraceContextPropagator();
  if (global) {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(propagator);
    trace.setGlobalTracerProvider(provider);
  }
  return {
    tracer: provider.getTracer('portico', PORTICO_VERSION),
    propagator,
    async shutdown() {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(resolve, SHUTDOWN_WAIT_MS, 'late')));
      const outcome = await Promise.race([provider.shutdown().catch(() => undefined), late]);
      clearTimeout(timer);
      if (outcome === 'late') log.warn(`${role} ${process.pid}: the last spans were not sent within ${SHUTDOWN_WAIT_MS / 1000} s; stopping without them`);
    },
  };
}

function exporterFor(settings: OtelSettings): SpanExporter {
  if (settings.exporter === 'console') return new ConsoleSpanExporter();
  // The exporters read OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, _HEADERS, _TIMEOUT and _COMPRESSION themselves.
  return settings.protocol === 'http/json' ? new OTLPJsonExporter() : new OTLPProtoExporter();
}

/** OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, as the spec names them. */
function samplerFromEnv(): Sampler {
  const name = getStringFromEnv('OTEL_TRACES_SAMPLER') ?? 'parentbased_always_on';
  const ratio = getNumberFromEnv('OTEL_TRACES_SAMPLER_ARG') ?? 1;
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio);
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}
