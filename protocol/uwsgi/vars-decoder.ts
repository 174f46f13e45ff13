import { PorticoError } from '../../common/errors.js';
import { UwsgiVars } from './uwsgi-vars.js';

/**
 * Decodes a vars block (`u16le len, key, u16le len, value`, repeated) from buf[start, end).
 * Every length is checked against the block's end, so a lying length can never read past it.
 *
 * A front end sends the same names in the same order on every request, and most values repeat
 * too (REQUEST_METHOD, SERVER_PROTOCOL, HTTP_HOST...). So the string last decoded at each position
 * is kept, and reused when the bytes are the same: comparing a few bytes costs less than creating
 * a string, and a request then allocates only the strings that changed.
 */
export function decodeVars(buf: Buffer, start: number, end: number): UwsgiVars {
  const flat: string[] = [];
  let pos = start;
  for (let i = 0; pos < end; i++) {
    if (pos + 2 > end) throw badLength(pos - start, 'key length');
    const klen = buf[pos]! | (buf[pos + 1]! << 8);
    pos += 2;
    if (pos + klen + 2 > end) throw badLength(pos - start, 'key');
    let key = keyCache[i];
    if (key === undefined || !sameBytes(buf, pos, klen, key)) {
      key = buf.latin1Slice(pos, pos + klen);
      if (i < CACHE_SLOTS && klen <= CACHE_MAX_LENGTH) keyCache[i] = key;
    }
    pos += klen;
    const vlen = buf[pos]! | (buf[pos + 1]! << 8);
    pos += 2;
    if (pos + vlen > end) throw badLength(pos - start, `value of ${key}`);
    let value: string;
    if (vlen === 0) {
      value = '';
    } else {
      const cached = valueCache[i];
      if (cached !== undefined && sameBytes(buf, pos, vlen, cached)) {
        value = cached;
      } else {
        value = buf.utf8Slice(pos, pos + vlen);
        if (i < CACHE_SLOTS && vlen <= CACHE_MAX_LENGTH && isAscii(value)) valueCache[i] = value;
      }
    }
    flat.push(key, value);
    pos += vlen;
  }
  return new UwsgiVars(flat);
}

const CACHE_SLOTS = 64;
const CACHE_MAX_LENGTH = 128;
/** Keys by position, as latin1: any bytes equal to the char codes decode to this very string. */
const keyCache: string[] = [];
/** Values by position, ASCII only: then equal bytes decode (as UTF-8) to this very string. */
const valueCache: string[] = [];

function sameBytes(buf: Buffer, pos: number, len: number, s: string): boolean {
  if (s.length !== len) return false;
  for (let j = 0; j < len; j++) if (buf[pos + j] !== s.charCodeAt(j)) return false;
  return true;
}

function isAscii(s: string): boolean {
  for (let j = 0; j < s.length; j++) if (s.charCodeAt(j) > 127) return false;
  return true;
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
