import { PorticoError } from '../common/errors.js';
import { UwsgiVars } from './uwsgi-vars.js';

export interface PacketHeadInput {
  modifier1?: number;
  modifier2?: number;
  vars: UwsgiVars | Iterable<readonly [string, string]>;
}

const U16_MAX = 0xffff;

/** Encodes the 4-byte header and the vars block; the body (if any) follows on the wire unchanged. */
export function encodePacketHead(input: PacketHeadInput): Buffer {
  const vars = input.vars instanceof UwsgiVars ? input.vars : UwsgiVars.fromPairs(input.vars);
  const flat = vars.flat;
  let size = 0;
  const lengths = new Array<number>(flat.length);
  for (let i = 0; i < flat.length; i++) {
    const len = Buffer.byteLength(flat[i]!, 'utf8');
    if (len > U16_MAX) {
      throw new PorticoError('PORTICO_ERR_VARS_TOO_BIG', `var ${i % 2 === 0 ? 'name' : 'value'} of ${len} bytes exceeds 65535`);
    }
    lengths[i] = len;
    size += 2 + len;
  }
  if (size > U16_MAX) {
    throw new PorticoError('PORTICO_ERR_VARS_TOO_BIG', `vars block of ${size} bytes exceeds 65535`);
  }
  const out = Buffer.allocUnsafe(4 + size);
  out[0] = input.modifier1 ?? 0;
  out.writeUInt16LE(size, 1);
  out[3] = input.modifier2 ?? 0;
  let pos = 4;
  for (let i = 0; i < flat.length; i++) {
    const len = lengths[i]!;
    out.writeUInt16LE(len, pos);
    pos += 2;
    pos += out.write(flat[i]!, pos, len, 'utf8');
  }
  return out;
}

/** A whole packet in one buffer: head plus body. For tests and small requests. */
export function encodePacket(input: PacketHeadInput, body?: Uint8Array): Buffer {
  const head = encodePacketHead(input);
  return body && body.length > 0 ? Buffer.concat([head, body]) : head;
}
