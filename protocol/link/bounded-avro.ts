import avsc from 'avsc';
import type { Type as AvroType } from 'avsc';

/** avsc's schema argument; its typings do not export the name. */
export type AvroSchema = Parameters<typeof avsc.Type.forSchema>[0];

/** The part of avsc's internal reading cursor used here (not in its typings). */
interface Tap {
  buf: Buffer;
  pos: number;
  readLong(): number;
  skipLong(): void;
}

interface Readable {
  _read(tap: Tap): unknown;
}

/**
 * An Avro array that refuses a block count larger than the bytes left. avsc trusts the count: a
 * 7-byte head announcing 2^27 headers kept the event loop busy for 8 seconds before failing. Every
 * item of a non-null type takes at least one byte, so a count above the bytes left is corrupt;
 * the cursor is put past the end, which avsc reports as a truncated value (offset -1).
 */
class BoundedArrayType extends avsc.types.ArrayType {
  _read(tap: Tap): unknown[] {
    const items = this.itemsType as unknown as Readable;
    let out: unknown[] | undefined;
    let i = 0;
    let n: number;
    while ((n = tap.readLong())) {
      if (n < 0) {
        n = -n;
        tap.skipLong(); // a negative count is followed by the block's size in bytes
      }
      if (n > tap.buf.length - tap.pos) {
        tap.pos = tap.buf.length + 1;
        return [];
      }
      out ??= new Array<unknown>(n);
      while (n--) out[i++] = items._read(tap);
    }
    return out ?? [];
  }
}

/** Swaps avsc's arrays for bounded ones; null items (zero bytes each) keep avsc's own. */
function typeHook(schema: AvroSchema, opts: object): AvroType | undefined {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema) || avsc.Type.isType(schema)) return undefined;
  const s = schema as { type?: unknown; items?: unknown };
  if (s.type !== 'array' || s.items === 'null') return undefined;
  return new BoundedArrayType(schema, opts);
}

/**
 * avsc's Type.forSchema with bounded arrays: used for every schema the native link reads with,
 * its own and the ones workers announce, since a resolver reads with the reader's types.
 */
export function forSchema(schema: AvroSchema): AvroType {
  return avsc.Type.forSchema(schema, { typeHook });
}
