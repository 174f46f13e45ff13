import type { Type as AvroType } from 'avsc';
import { forSchema, type AvroSchema } from './bounded-avro.js';

/** The response head as the gateway sees it. */
export interface NativeResponseHead {
  status: number;
  reason: string;
  /** Flat name, value, name, value...: repeated headers (Set-Cookie) stay separate, in order. */
  headers: string[];
}

/**
 * Every response-head schema shipped, by version. Never edit a shipped version (the frozen copy in
 * test/fixtures/native-head-schema-v1.json holds it to that): add the next one, giving each new
 * field a default, so a gateway reads the previous version through avsc's resolver
 * (docs/protocol.md, "Versioning").
 */
const SHIPPED: ReadonlyArray<[number, AvroSchema]> = [
  [
    1,
    {
      type: 'record',
      name: 'ResponseHead',
      namespace: 'portico.native',
      fields: [
        { name: 'status', type: 'int' },
        { name: 'reason', type: 'string' },
        { name: 'headers', type: { type: 'array', items: 'string' } },
      ],
    },
  ],
];

export interface HeadSchema {
  readonly version: number;
  readonly type: AvroType;
  /** MD5 of the schema's Parsing Canonical Form, as lowercase hex (Avro's standard fingerprint). */
  readonly fingerprint: string;
  /** The Parsing Canonical Form itself: what a worker sends in its HELLO_ACK. */
  readonly canonicalJson: string;
}

/**
 * A build's response-head schemas: the one it writes (and reads natively) and the ones it reads.
 * Each build has one, HEAD_SCHEMAS; the rolling-upgrade test builds others to stand for builds
 * one version ahead or behind.
 */
export class HeadSchemas {
  /** The version this build writes. */
  readonly current: HeadSchema;
  /**
   * What this build reads: its own version and the one before it, newest first. One older is
   * what a rolling upgrade needs (new gateway, workers restarted one by one); more would keep old
   * schemas alive forever.
   */
  readonly readable: readonly HeadSchema[];

  constructor(schemas: ReadonlyArray<[number, AvroSchema]>, current: number) {
    const byVersion = new Map<number, HeadSchema>();
    for (const [version, schema] of schemas) {
      const type = forSchema(schema);
      byVersion.set(version, Object.freeze({ version, type, fingerprint: type.fingerprint().toString('hex'), canonicalJson: JSON.stringify(type.schema()) }));
    }
    const own = byVersion.get(current);
    if (!own) throw new RangeError(`no response-head schema v${current}`);
    this.current = own;
    const older = byVersion.get(current - 1);
    this.readable = Object.freeze(older ? [own, older] : [own]);
  }
}

/** This build's schemas. */
export const HEAD_SCHEMAS = new HeadSchemas(SHIPPED, 1);

/** Parses schema JSON a worker sent, to learn its fingerprint (only when it is not spelled as our canonical form). */
export function parseWriterSchema(json: string): { type: AvroType; fingerprint: string } {
  const type = forSchema(JSON.parse(json) as AvroSchema);
  return { type, fingerprint: type.fingerprint().toString('hex') };
}
