import type { Type as AvroType } from 'avsc';
import { forSchema, type AvroSchema } from './bounded-avro.js';

/** The response head as the gateway sees it, whatever schema version the worker wrote. */
export interface NativeResponseHead {
  status: number;
  reason: string;
  /** Flat name, value, name, value...: repeated headers (Set-Cookie) stay separate, in order. */
  headers: string[];
  /** The worker's pid (v2). 0 when the worker writes v1, from the v2 field's default. */
  workerPid: number;
}

/**
 * Every response-head schema ever shipped, by version. Never edit a shipped version: add the next
 * one, and make each new field carry a default, so a gateway can read the previous version
 * through avsc's resolver (docs/protocol.md, "Versioning").
 */
const SCHEMAS: ReadonlyMap<number, AvroSchema> = new Map<number, AvroSchema>([
  [1, {
    type: 'record',
    name: 'ResponseHead',
    namespace: 'portico.native',
    fields: [
      { name: 'status', type: 'int' },
      { name: 'reason', type: 'string' },
      { name: 'headers', type: { type: 'array', items: 'string' } },
    ],
  }],
  [2, {
    type: 'record',
    name: 'ResponseHead',
    namespace: 'portico.native',
    fields: [
      { name: 'status', type: 'int' },
      { name: 'reason', type: 'string' },
      { name: 'headers', type: { type: 'array', items: 'string' } },
      { name: 'workerPid', type: 'int', default: 0 },
    ],
  }],
]);

/** The version this build writes, and reads natively. */
export const CURRENT_HEAD_VERSION = 2;

export interface HeadSchema {
  readonly version: number;
  readonly type: AvroType;
  /** MD5 of the schema's Parsing Canonical Form, as lowercase hex (Avro's standard fingerprint). */
  readonly fingerprint: string;
  /** The Parsing Canonical Form itself: what a worker sends in its HELLO_ACK. */
  readonly canonicalJson: string;
}

const byVersion = new Map<number, HeadSchema>();
for (const [version, schema] of SCHEMAS) {
  const type = forSchema(schema);
  byVersion.set(version, Object.freeze({
    version,
    type,
    fingerprint: type.fingerprint().toString('hex'),
    canonicalJson: JSON.stringify(type.schema()),
  }));
}

export function headSchema(version: number): HeadSchema | undefined {
  return byVersion.get(version);
}

/**
 * What a reader of `readerVersion` accepts: its own version and the one before it, newest first.
 * One older is what a rolling upgrade needs (new gateway, workers restarted one by one); more would
 * keep old schemas alive forever.
 */
export function readableHeadSchemas(readerVersion: number = CURRENT_HEAD_VERSION): HeadSchema[] {
  const own = byVersion.get(readerVersion);
  if (!own) return [];
  const older = byVersion.get(readerVersion - 1);
  return older ? [own, older] : [own];
}

/** Parses schema JSON a worker sent, to learn its fingerprint (only when it is not spelled as our canonical form). */
export function parseWriterSchema(json: string): { type: AvroType; fingerprint: string } {
  const type = forSchema(JSON.parse(json) as AvroSchema);
  return { type, fingerprint: type.fingerprint().toString('hex') };
}

