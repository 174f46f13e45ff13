import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One span as an OTLP/JSON export carries it (ids in hex), with its process's resource attributes. */
export interface CollectedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
}

/** A protobuf export, kept as bytes (the default protocol, http/protobuf). */
export interface RawExport {
  contentType: string;
  body: Buffer;
}

/**
 * An OpenTelemetry collector stand-in: an OTLP/HTTP receiver on 127.0.0.1 taking POST /v1/traces.
 * JSON exports (http/json) are parsed into spans; protobuf ones are kept whole. `waitFor` resolves
 * at the export that makes its condition true, never on a timer.
 */
export interface Collector {
  /** The base URL, for OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly endpoint: string;
  readonly spans: CollectedSpan[];
  readonly raw: RawExport[];
  /** Exports received. */
  received: number;
  waitFor(done: (c: Collector) => boolean): Promise<void>;
  close(): Promise<void>;
}

interface AnyValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
}
interface KeyValue {
  key: string;
  value: AnyValue;
}
interface JsonExport {
  resourceSpans?: Array<{
    resource?: { attributes?: KeyValue[] };
    scopeSpans?: Array<{ spans?: Array<{ traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number; attributes?: KeyValue[] }> }>;
  }>;
}

function attributesOf(list: KeyValue[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { key, value } of list ?? []) out[key] = value.stringValue ?? value.intValue ?? value.boolValue ?? value.doubleValue;
  return out;
}

/** `discard`: keep nothing (a benchmark's sink), only count the exports in `received`. */
export async function startCollector(options: { discard?: boolean } = {}): Promise<Collector> {
  const spans: CollectedSpan[] = [];
  const raw: RawExport[] = [];
  const waiters = new Set<() => void>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const contentType = req.headers['content-type'] ?? '';
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      collector.received++;
      if (options.discard) {
        res.writeHead(200, { 'content-type': contentType }).end(contentType.startsWith('application/json') ? '{}' : undefined);
      } else if (contentType.startsWith('application/json')) {
        const doc = JSON.parse(body.toString('utf8')) as JsonExport;
        for (const rs of doc.resourceSpans ?? []) {
          const resource = attributesOf(rs.resource?.attributes);
          for (const ss of rs.scopeSpans ?? []) {
            for (const s of ss.spans ?? []) {
              spans.push({ traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId ?? '', name: s.name, kind: s.kind, attributes: attributesOf(s.attributes), resource });
            }
          }
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } else {
        raw.push({ contentType, body });
        // An empty ExportTraceServiceResponse: zero bytes in protobuf.
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      }
      for (const w of [...waiters]) w();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const collector: Collector = {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    raw,
    received: 0,
    waitFor(done) {
      if (done(collector)) return Promise.resolve();
      return new Promise((resolve) => {
        const check = (): void => {
          if (!done(collector)) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
      });
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  return collector;
}
