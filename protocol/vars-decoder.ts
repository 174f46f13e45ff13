import { PorticoError } from '../common/errors.js';
import { UwsgiVars } from './uwsgi-vars.js';

/**
 * Decodes a vars block (`u16le len, key, u16le len, value`, repeated) from buf[start, end).
 * Every length is checked against the block's end, so a lying length can never read past it.
 */
export function decodeVars(buf: Buffer, start: number, end: number): UwsgiVars {
  const flat: string[] = [];
  let pos = start;
  while (pos < end) {
    if (pos + 2 > end) throw badLength(pos - start, 'key length');
    const klen = buf[pos]! | (buf[pos + 1]! << 8);
    pos += 2;
    if (pos + klen + 2 > end) throw badLength(pos - start, 'key');
    const key = buf.latin1Slice(pos, pos + klen);
    pos += klen;
    const vlen = buf[pos]! | (buf[pos + 1]! << 8);
    pos += 2;
    if (pos + vlen > end) throw badLength(pos - start, `value of ${key}`);
    flat.push(key, vlen === 0 ? '' : buf.utf8Slice(pos, pos + vlen));
    pos += vlen;
  }
  return new UwsgiVars(flat);
}

function badLength(offset: number, what: string): PorticoError {
  return new PorticoError('PORTICO_ERR_BAD_VAR_LENGTH', `${what} at offset ${offset}`);
}

declare module 'node:buffer' {
  interface Buffer {
    latin1Slice(start: number, end: number): string;
    utf8Slice(start: number, end: number): string;
  }
}
