import { PorticoError } from '../../common/errors.js';
import { decodeVars } from '../../protocol/uwsgi/vars-decoder.js';
import { UwsgiVars } from '../../protocol/uwsgi/uwsgi-vars.js';
import {
  FrameType,
  NATIVE_MODIFIER1,
  NATIVE_MODIFIER2,
  HEAD_SCHEMAS,
  StreamFrameWriter,
  acceptHello,
  encodeHello,
  parseHelloVars,
  queueStreamRequest,
  queueStreamResponseHead,
  type HeadSchema,
  type Hello,
  type NativeResponseHead,
} from '../../protocol/link/index.js';

/**
 * A fake worker's side of the handshake: the HELLO from raw bytes at the start of a connection.
 * null while incomplete; `size` is where the frames begin.
 */
export function decodeHello(buf: Buffer): { hello: Hello; size: number } | null {
  if (buf.length >= 1 && buf[0] !== NATIVE_MODIFIER1) throw new PorticoError('PORTICO_ERR_NATIVE_HANDSHAKE', `modifier1 ${buf[0]} is not the native link's ${NATIVE_MODIFIER1}`);
  if (buf.length < 4) return null;
  if (buf[3] !== NATIVE_MODIFIER2) throw new PorticoError('PORTICO_ERR_NATIVE_HANDSHAKE', `HELLO with modifier2 ${buf[3]}`);
  const size = 4 + buf.readUInt16LE(1);
  if (buf.length < size) return null;
  return { hello: parseHelloVars(decodeVars(buf, 4, size)), size };
}

/** Byte i of a generated body: a pattern that a dropped, repeated or reordered byte breaks. */
export function pattern(n: number, seed = 0): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed + (i >> 13)) & 0xff;
  return b;
}

export { rng } from '../../support/rng.js';

export const HEAD: NativeResponseHead = {
  status: 201,
  reason: 'Created',
  headers: ['set-cookie', 'a=1', 'set-cookie', 'b=2', 'x-ü', 'ü'],
};

/** A RESPONSE_HEAD payload: the Avro record of `schema`. */
export function avroHead(head: NativeResponseHead, schema: HeadSchema = HEAD_SCHEMAS.current): Buffer {
  return schema.type.toBuffer(head);
}

/** The bytes StreamFrameWriter writes for what `fill` queues, at once. */
export function framesOf(fill: (w: StreamFrameWriter) => void): Buffer {
  const parts: Buffer[] = [];
  const w = new StreamFrameWriter({ write: (c) => (parts.push(Buffer.from(c)), true), cork() {}, uncork() {}, writableLength: 0, destroyed: false });
  fill(w);
  w.flush();
  return Buffer.concat(parts);
}

/** What a gateway sends on two interleaved streams: a body in pieces, an END, aborts. */
export function requestStream(): Buffer {
  return framesOf((w) => {
    queueStreamRequest(w, 1, new UwsgiVars(['REQUEST_METHOD', 'PUT', 'PATH_INFO', '/up', 'HTTP_X', 'é']), false);
    w.body(FrameType.RequestBody, 1, pattern(300));
    queueStreamRequest(w, 3, new UwsgiVars(['CONTENT_LENGTH', '12']), false);
    w.body(FrameType.RequestBody, 1, pattern(5000, 1));
    w.frame(FrameType.RequestEnd, 1);
    w.frame(FrameType.RequestAbort, 1, Buffer.from('late cancel'));
    w.u32(FrameType.ResponseCredit, 1, 65536);
    w.frame(FrameType.RequestAbort, 3);
  });
}

/** What a worker sends: HELLO_ACK, then answers on two streams, a credit and GOAWAY. */
export function responseStream(): Buffer {
  return Buffer.concat([
    acceptHello(decodeHello(encodeHello())!.hello),
    framesOf((w) => {
      queueStreamResponseHead(w, 1, HEAD);
      w.body(FrameType.ResponseBody, 1, 'héllo ');
      queueStreamResponseHead(w, 3, { status: 500, reason: '', headers: [] });
      w.body(FrameType.ResponseBody, 1, pattern(70_000, 2));
      w.u32(FrameType.RequestCredit, 3, 32768);
      w.frame(FrameType.ResponseEnd, 1);
      w.frame(FrameType.ResponseAbort, 3, Buffer.from('boom'));
      w.u32(FrameType.GoAway, 0, 3);
    }),
  ]);
}
