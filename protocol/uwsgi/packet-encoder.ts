import { PorticoError } from '../../common/errors.js';
import { UwsgiVars } from './uwsgi-vars.js';

export interface PacketHeadInput {
  modifier1?: number;
  modifier2?: number;
  vars: UwsgiVars | Iterable<readonly [string, string]>;
}

const U16_MAX = 0xffff;

/**
 * The one vars-block encoder, for the uwsgi packet and the native link's REQUEST_HEAD alike: each
 * string as u16le length and its UTF-8 bytes. First varsBlockRoom(flat) to know how much room to
 * make (it throws for a block over uwsgi's limits), then writeVarsBlock into that room.
 */

/**
 * Bytes to make room for: the worst case (UTF-8 takes at most 3 bytes per UTF-16 unit) when that
 * is within the 65535-byte limit, which it is for any ordinary request, so nothing is measured;
 * else the exact size, measured, throwing PORTICO_ERR_VARS_TOO_BIG when a string or the block is
 * over 65535 bytes.
 */
export function varsBlockRoom(flat: readonly string[]): number {
  let worst = 0;
  for (let i = 0; i < flat.length; i++) worst += 2 + flat[i]!.length * 3;
  if (worst <= U16_MAX) return worst;
  let size = 0;
  for (let i = 0; i < flat.length; i++) {
    const len = Buffer.byteLength(flat[i]!, 'utf8');
    if (len > U16_MAX) throw new PorticoError('PORTICO_ERR_VARS_TOO_BIG', `var ${i % 2 === 0 ? 'name' : 'value'} of ${len} bytes exceeds 65535`);
    size += 2 + len;
  }
  if (size > U16_MAX) throw new PorticoError('PORTICO_ERR_VARS_TOO_BIG', `vars block of ${size} bytes exceeds 65535`);
  return size;
}

/** Writes the vars block at `pos`, into varsBlockRoom(flat) bytes made there; returns where it ends. */
export function writeVarsBlock(buf: Buffer, pos: number, flat: readonly string[]): number {
  for (let i = 0; i < flat.length; i++) {
    const n = writeVarString(buf, flat[i]!, pos + 2);
    buf[pos] = n & 0xff;
    buf[pos + 1] = n >>> 8;
    pos += 2 + n;
  }
  return pos;
}

/** Below this length a string is copied in JavaScript: cheaper than a call into C++ for each. */
const SHORT_STRING = 48;

/**
 * Writes `s` as UTF-8 at `pos` and returns its byte length. Most vars are short ASCII (names,
 * method, ports, most header values): those are copied char by char, and anything else goes to
 * Buffer#write, so the bytes are always Buffer#write's.
 */
function writeVarString(buf: Buffer, s: string, pos: number): number {
  const n = s.length;
  if (n < SHORT_STRING) {
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) break;
      buf[pos + i] = c;
    }
    if (i === n) return n;
  }
  return buf.write(s, pos, 'utf8');
}

/** Where a packet head is written before it is copied into a buffer of its exact size. */
const scratch = Buffer.allocUnsafe(4 + U16_MAX);

/** Encodes the 4-byte header and the vars block; the body (if any) follows on the wire unchanged. */
export function encodePacketHead(input: PacketHeadInput): Buffer {
  const flat = (input.vars instanceof UwsgiVars ? input.vars : UwsgiVars.fromPairs(input.vars)).flat;
  varsBlockRoom(flat);
  const end = writeVarsBlock(scratch, 4, flat);
  const out = Buffer.allocUnsafe(end);
  scratch.copy(out, 0, 0, end);
  out[0] = input.modifier1 ?? 0;
  out.writeUInt16LE(end - 4, 1);
  out[3] = input.modifier2 ?? 0;
  return out;
}

/** A whole packet in one buffer: head plus body. For tests and small requests. */
export function encodePacket(input: PacketHeadInput, body?: Uint8Array): Buffer {
  const head = encodePacketHead(input);
  return body && body.length > 0 ? Buffer.concat([head, body]) : head;
}
