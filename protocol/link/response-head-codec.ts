import type { Type as AvroType } from 'avsc';
import { PorticoError } from '../../common/errors.js';
import { FrameType, MAX_FRAME_SIZE, STREAM_FRAME_HEADER_SIZE } from './constants.js';
import type { StreamFrameWriter } from './frame-writer.js';
import { HEAD_SCHEMAS, parseWriterSchema, type HeadSchema, type HeadSchemas, type NativeResponseHead } from './head-schemas.js';

type AvroResolver = ReturnType<AvroType['createResolver']>;

/**
 * How a reader decodes heads from one writer schema. Built once per (reader, writer) fingerprint
 * pair and shared by every connection to workers of that version.
 */
export interface HeadReader {
  readonly readerVersion: number;
  readonly writerVersion: number;
  readonly type: AvroType;
  /** undefined when writer and reader are the same schema: then avsc reads directly. */
  readonly resolver: AvroResolver | undefined;
}

/** What a worker announces in its HELLO_ACK. */
export interface WriterSchemaInfo {
  version: number;
  fingerprint: string;
  /** The writer's schema JSON: equal to this side's canonical form, or parsed and its fingerprint checked. */
  schemaJson?: string;
}

/**
 * A RESPONSE_HEAD on `stream`, the Avro record encoded straight into the link's batch.
 * Returns the frame's size (for the request log).
 */
export function queueStreamResponseHead(writer: StreamFrameWriter, stream: number, head: NativeResponseHead, schema: HeadSchema = HEAD_SCHEMAS.current): number {
  if (!Number.isInteger(head.status) || head.headers.length % 2 !== 0) {
    throw new PorticoError('PORTICO_ERR_INVALID_HEADER', `status ${head.status} with ${head.headers.length} header strings (name, value pairs)`);
  }
  const H = STREAM_FRAME_HEADER_SIZE;
  let at = writer.reserve(H + 256);
  let end = schema.type.encode(head, writer.slab, at + H);
  if (end < 0) {
    // avsc reports how many bytes were missing as a negative number: make that much more room.
    at = writer.reserve(H + (writer.slab.length - at - H) - end);
    end = schema.type.encode(head, writer.slab, at + H);
  }
  const size = end - at - H;
  if (size > MAX_FRAME_SIZE) throw new PorticoError('PORTICO_ERR_NATIVE_FRAME_TOO_BIG', `response head of ${size} bytes`);
  writer.header(at, FrameType.ResponseHead, stream, size);
  writer.commit(end);
  return H + size;
}

/** Decodes a RESPONSE_HEAD payload; anything malformed is PORTICO_ERR_BAD_RESPONSE. */
export function decodeResponseHead(payload: Buffer, reader: HeadReader): NativeResponseHead {
  let decoded: { value: unknown; offset: number };
  try {
    decoded = reader.type.decode(payload, 0, reader.resolver);
  } catch (err) {
    throw new PorticoError('PORTICO_ERR_BAD_RESPONSE', `undecodable response head: ${(err as Error).message}`, { cause: err });
  }
  if (decoded.offset !== payload.length) {
    const what = decoded.offset < 0 ? 'truncated' : `${payload.length - decoded.offset} trailing bytes in`;
    throw new PorticoError('PORTICO_ERR_BAD_RESPONSE', `${what} response head (schema v${reader.writerVersion})`);
  }
  // The reader schema guarantees the fields and their types; avsc has already checked them.
  const head = decoded.value as NativeResponseHead;
  if (head.headers.length % 2 !== 0) throw new PorticoError('PORTICO_ERR_BAD_RESPONSE', 'odd number of header strings');
  return head;
}

const readers = new Map<string, HeadReader>();

/**
 * The reader for heads a worker writes in `writer`'s schema. A writer schema that is not one the
 * reader's build reads is PORTICO_ERR_NATIVE_SCHEMA, and so is schema JSON that does not match its
 * fingerprint. The resolver is built from this side's copy of that version (the JSON proved it
 * identical), once per (reader, writer) pair, and shared by every connection: a connection costs
 * a map lookup and a string compare.
 */
export function headReaderFor(writer: WriterSchemaInfo, schemas: HeadSchemas = HEAD_SCHEMAS): HeadReader {
  const readable = schemas.readable;
  const readerSchema = schemas.current;
  const known = readable.find((s) => s.version === writer.version && s.fingerprint === writer.fingerprint);
  if (!known) {
    throw new PorticoError(
      'PORTICO_ERR_NATIVE_SCHEMA',
      `the worker writes response heads in schema v${writer.version} (${writer.fingerprint}); this gateway reads ` +
        `${readable.map((s) => `v${s.version} (${s.fingerprint})`).join(', ') || 'nothing'}: upgrade the gateway first, then the workers`,
    );
  }
  if (writer.schemaJson !== undefined && writer.schemaJson !== known.canonicalJson) checkSchemaJson(writer.schemaJson, writer.fingerprint);
  const key = `${readerSchema.fingerprint}:${writer.fingerprint}`;
  const cached = readers.get(key);
  if (cached) return cached;
  let resolver: AvroResolver | undefined;
  if (known.fingerprint !== readerSchema.fingerprint) {
    try {
      resolver = readerSchema.type.createResolver(known.type);
    } catch (err) {
      throw new PorticoError('PORTICO_ERR_NATIVE_SCHEMA', `cannot read v${writer.version} as v${readerSchema.version}: ${(err as Error).message}`, { cause: err });
    }
  }
  const reader: HeadReader = Object.freeze({
    readerVersion: readerSchema.version,
    writerVersion: writer.version,
    type: readerSchema.type,
    resolver,
  });
  readers.set(key, reader);
  return reader;
}

/** Slow path for JSON that is not byte-for-byte our canonical form: parse it and compare fingerprints. */
function checkSchemaJson(json: string, fingerprint: string): void {
  let parsed: { fingerprint: string };
  try {
    parsed = parseWriterSchema(json);
  } catch (err) {
    throw new PorticoError('PORTICO_ERR_NATIVE_HANDSHAKE', `unparsable writer schema: ${(err as Error).message}`, { cause: err });
  }
  if (parsed.fingerprint !== fingerprint) {
    throw new PorticoError('PORTICO_ERR_NATIVE_SCHEMA', `the worker's schema has fingerprint ${parsed.fingerprint}, not the ${fingerprint} it announced`);
  }
}
