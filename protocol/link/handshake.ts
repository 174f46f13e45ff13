import { PorticoError } from '../../common/errors.js';
import { encodePacketHead } from '../uwsgi/packet-encoder.js';
import { UwsgiVars } from '../uwsgi/uwsgi-vars.js';
import { FRAME_HEADER_SIZE, FrameType, LINK_VERSION, NATIVE_MODIFIER1, NATIVE_MODIFIER2 } from './constants.js';
import { HEAD_SCHEMAS, type HeadSchemas } from './head-schemas.js';
import { headReaderFor, type HeadReader, type WriterSchemaInfo } from './response-head-codec.js';

/** Vars of the HELLO packet. */
const VAR_LINK = 'PORTICO_LINK';
const VAR_SCHEMAS = 'PORTICO_HEAD_SCHEMAS';

/**
 * First byte of an accepting HELLO_ACK: accepted at the framing version that follows (u16le).
 * 0 was link version 1's accepting ACK, which had none: a gateway refuses it (parseHelloAck).
 */
const ACK_ACCEPTED = 2;
const ACK_V1_ACCEPTED = 0;
const ACK_REFUSED = 1;
const FINGERPRINT_BYTES = 16;

/** What the gateway announced: the framing version and the head schemas it can read. */
export interface Hello {
  linkVersion: number;
  readable: Array<{ version: number; fingerprint: string }>;
}

/**
 * Gateway: the HELLO, a whole uwsgi packet (header modifier1=77, then a vars block) so the worker
 * reads it with the same decoder as nginx's requests. Send nothing more until HELLO_ACK: a worker
 * reading it with the uwsgi decoder ignores bytes after the packet.
 */
export function encodeHello(schemas: HeadSchemas = HEAD_SCHEMAS): Buffer {
  const readable = schemas.readable.map((s) => `${s.version}:${s.fingerprint}`).join(',');
  const vars = new UwsgiVars([VAR_LINK, String(LINK_VERSION), VAR_SCHEMAS, readable]);
  return encodePacketHead({ modifier1: NATIVE_MODIFIER1, modifier2: NATIVE_MODIFIER2, vars });
}

/** Worker: the HELLO from the vars the uwsgi packet decoder produced for a modifier1=77 packet. */
export function parseHelloVars(vars: UwsgiVars): Hello {
  const link = vars.get(VAR_LINK);
  const list = vars.get(VAR_SCHEMAS);
  if (link === undefined || !/^\d{1,5}$/.test(link) || list === undefined) {
    throw bad(`HELLO without ${VAR_LINK} and ${VAR_SCHEMAS}`);
  }
  const readable: Hello['readable'] = [];
  for (const item of list.split(',')) {
    const m = /^(\d{1,5}):([0-9a-f]{32})$/.exec(item);
    if (!m) throw bad(`bad schema entry ${JSON.stringify(item.slice(0, 80))} in HELLO`);
    readable.push({ version: Number(m[1]), fingerprint: m[2]! });
  }
  return { linkVersion: Number(link), readable };
}

/**
 * Worker: the HELLO_ACK frame for a HELLO, announcing the schema this worker writes heads in.
 * Throws PORTICO_ERR_NATIVE_HANDSHAKE for a framing version other than LINK_VERSION (a gateway of
 * link version 1 among them), and PORTICO_ERR_NATIVE_SCHEMA when the gateway cannot read its
 * schema; send encodeHelloRefusal(err) then, so the gateway logs why.
 */
export function acceptHello(hello: Hello, schemas: HeadSchemas = HEAD_SCHEMAS): Buffer {
  if (hello.linkVersion !== LINK_VERSION) {
    throw bad(`the gateway speaks link version ${hello.linkVersion}; this worker speaks ${LINK_VERSION} only: run the gateway and the workers from the same portico release`);
  }
  const mine = schemas.current;
  if (!hello.readable.some((s) => s.version === mine.version && s.fingerprint === mine.fingerprint)) {
    throw new PorticoError(
      'PORTICO_ERR_NATIVE_SCHEMA',
      `the gateway reads ${hello.readable.map((s) => `v${s.version}`).join(', ') || 'nothing'}; this worker writes v${mine.version}: ` + 'upgrade the gateway first, then the workers',
    );
  }
  const head = Buffer.allocUnsafe(5);
  head[0] = ACK_ACCEPTED;
  head.writeUInt16LE(LINK_VERSION, 1);
  head.writeUInt16LE(mine.version, 3);
  return helloAck([head, Buffer.from(mine.fingerprint, 'hex'), Buffer.from(mine.canonicalJson, 'utf8')]);
}

/** Worker: a HELLO_ACK frame that refuses the link, carrying the error's code and message. */
export function encodeHelloRefusal(err: PorticoError): Buffer {
  const code = Buffer.from(err.code, 'latin1');
  return helloAck([Buffer.from([ACK_REFUSED, code.length]), code, Buffer.from(err.message.slice(0, 1024), 'utf8')]);
}

/** The HELLO_ACK frame (`u8 type, u32le length`, no stream id) around its payload's parts. */
function helloAck(payload: Buffer[]): Buffer {
  const out = Buffer.concat([Buffer.alloc(FRAME_HEADER_SIZE), ...payload]);
  out[0] = FrameType.HelloAck;
  out.writeUInt32LE(out.length - FRAME_HEADER_SIZE, 1);
  return out;
}

/**
 * Gateway: a HELLO_ACK payload. A malformed one is PORTICO_ERR_NATIVE_HANDSHAKE; a refusal is
 * thrown as the worker's own error code when it is one of the handshake codes.
 */
export function parseHelloAck(payload: Buffer): WriterSchemaInfo {
  if (payload.length < 1) throw bad('empty HELLO_ACK');
  if (payload[0] === ACK_REFUSED) {
    const codeLength = payload.length >= 2 ? payload[1]! : 0;
    if (payload.length < 2 + codeLength) throw bad('truncated refusal');
    const code = payload.toString('latin1', 2, 2 + codeLength);
    const message = payload.toString('utf8', 2 + codeLength);
    // Only the two handshake codes are taken from the wire; anything else reads as a handshake failure.
    const ours = code === 'PORTICO_ERR_NATIVE_SCHEMA' ? code : 'PORTICO_ERR_NATIVE_HANDSHAKE';
    throw new PorticoError(ours, `the worker refused the link (${code}): ${message}`);
  }
  if (payload[0] === ACK_V1_ACCEPTED) {
    throw bad('the worker accepted at link version 1 (one request per connection), which this gateway no longer speaks: run the gateway and the workers from the same portico release');
  }
  if (payload[0] !== ACK_ACCEPTED || payload.length < 5 + FINGERPRINT_BYTES) throw bad('malformed HELLO_ACK');
  const linkVersion = payload.readUInt16LE(1);
  if (linkVersion !== LINK_VERSION) throw bad(`HELLO_ACK at link version ${linkVersion}; this gateway speaks ${LINK_VERSION} only`);
  return {
    version: payload.readUInt16LE(3),
    fingerprint: payload.toString('hex', 5, 5 + FINGERPRINT_BYTES),
    schemaJson: payload.toString('utf8', 5 + FINGERPRINT_BYTES),
  };
}

/** Gateway: parses HELLO_ACK and returns the (cached) reader for this worker's heads. */
export function completeHandshake(payload: Buffer, schemas: HeadSchemas = HEAD_SCHEMAS): HeadReader {
  return headReaderFor(parseHelloAck(payload), schemas);
}

function bad(detail: string): PorticoError {
  return new PorticoError('PORTICO_ERR_NATIVE_HANDSHAKE', detail);
}
