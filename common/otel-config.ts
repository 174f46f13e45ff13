import { PorticoError } from './errors.js';

/** How spans leave a process: OTLP over HTTP (protobuf or JSON), or printed (OTEL_TRACES_EXPORTER=console). */
export interface OtelSettings {
  exporter: 'otlp' | 'console';
  protocol: 'http/protobuf' | 'http/json';
}

/**
 * Whether this process traces, read from --otel and the OpenTelemetry SDK's own variables as the
 * spec gives them: OTEL_SDK_DISABLED=true turns it off, OTEL_TRACES_EXPORTER=none too; an
 * exporter named there, or an OTLP endpoint set, turns it on without --otel. null: off, and no
 * OpenTelemetry module is ever loaded. Checked before anything binds (grpc is refused here).
 */
export function otelSettings(flag: boolean | undefined, env: NodeJS.ProcessEnv = process.env): OtelSettings | null {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return null;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
  if (exporters.includes('none')) return null;
  const endpoint = (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT ?? '') !== '';
  if (flag !== true && exporters.length === 0 && !endpoint) return null;
  const unknown = exporters.filter((e) => e !== 'otlp' && e !== 'console');
  if (unknown.length > 0)
    throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `OTEL_TRACES_EXPORTER=${env.OTEL_TRACES_EXPORTER}: portico exports traces with otlp or console, not ${unknown.join(', ')}`);
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf').trim();
  if (protocol !== 'http/protobuf' && protocol !== 'http/json') {
    throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `OTEL_EXPORTER_OTLP_PROTOCOL=${protocol}: portico sends OTLP over HTTP, as http/protobuf (the default) or http/json`);
  }
  return { exporter: exporters[0] === 'console' ? 'console' : 'otlp', protocol };
}
