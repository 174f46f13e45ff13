import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ErrorCodes, isPorticoError, type PorticoError } from '../common/errors.js';
import { PacketDecoder, type PacketHead } from '../protocol/packet-decoder.js';
import { UwsgiVars } from '../protocol/uwsgi-vars.js';
import {
  FrameDecoder, FrameType, MAX_FRAME_SIZE, NATIVE_MODIFIER1, acceptHello, completeHandshake, decodeHello,
  decodeRequestHead, decodeResponseHead, encodeFrame, encodeHello, encodeHelloRefusal, encodeResponseHeadFrame,
  headReaderFor, headSchema, isBodyFrame, parseHelloAck, parseHelloVars, writeBody, type FrameSide,
} from '../protocol/native/index.js';
import { forSchema } from '../protocol/native/bounded-avro.js';
import { HEAD, decode, pattern, requestStream, responseStream, rng, sink } from './support/native-frames.js';

function expectCode(fn: () => unknown, code: keyof typeof ErrorCodes): void {
  assert.throws(fn, (err: unknown) => isPorticoError(err) && err.code === code);
}

describe('native link frames', () => {
  for (const [name, stream, side] of [['request', requestStream(), 'worker'], ['response', responseStream(), 'gateway']] as const) {
    it(`${name} frames decode the same split at every byte boundary, and byte by byte`, () => {
      const whole = decode([stream], side);
      assert.deepEqual(whole.errors, []);
      assert.equal(whole.frames.length, name === 'request' ? 6 : 7);
      for (let i = 0; i <= stream.length; i++) {
        const split = decode([stream.subarray(0, i), stream.subarray(i)], side);
        assert.deepEqual(split, whole, `split at ${i}`);
      }
      const bytes: Buffer[] = [];
      for (let i = 0; i < stream.length; i++) bytes.push(stream.subarray(i, i + 1));
      assert.deepEqual(decode(bytes, side), whole);
    });
  }

  it('decodes heads and bodies to what was written', () => {
    const [head, body, end, cancel, head2, abort] = decode([requestStream()], 'worker').frames;
    const req = decodeRequestHead(head![1]);
    assert.deepEqual(req.vars.flat, ['REQUEST_METHOD', 'PUT', 'PATH_INFO', '/up', 'HTTP_X', 'é']);
    assert.equal(req.contentLength, null, 'no CONTENT_LENGTH: a framed body of unknown length');
    assert.deepEqual(body, [FrameType.RequestBody, Buffer.concat([pattern(300), pattern(5000, 1)])]);
    assert.deepEqual([end![0], cancel![0], cancel![1].toString()], [FrameType.RequestEnd, FrameType.RequestAbort, 'late cancel']);
    assert.equal(decodeRequestHead(head2![1]).contentLength, 12);
    assert.deepEqual(abort, [FrameType.RequestAbort, Buffer.alloc(0)]);
    const reader = completeHandshake(decode([responseStream()], 'gateway').frames[0]![1]);
    const rhead = decode([responseStream()], 'gateway').frames[1]!;
    assert.deepEqual({ ...decodeResponseHead(rhead[1], reader) }, HEAD);
  });

  it('passes body payloads on without copying, and writes large ones without copying', () => {
    const stream = requestStream();
    const seen: Buffer[] = [];
    new FrameDecoder({ onFrame: (t, p) => void (isBodyFrame(t) && seen.push(p)), onError: assert.fail }).push(stream);
    assert.equal(seen.length, 2);
    for (const p of seen) assert.equal(p.buffer, stream.buffer);
    const s = sink();
    const big = pattern(5000);
    writeBody(s, FrameType.ResponseBody, pattern(100));
    writeBody(s, FrameType.ResponseBody, big);
    assert.equal(s.parts.length, 3, 'a small frame is one write, a large one header then payload');
    assert.equal(s.parts[2], big);
    const split = sink();
    writeBody(split, FrameType.ResponseBody, big, 2000);
    assert.deepEqual(split.parts.filter((_, i) => i % 2 === 0).map((h) => Buffer.from(h).readUInt32LE(1)), [2000, 2000, 1000]);
    assert.equal((split.parts[5] as Buffer).buffer, big.buffer);
  });

  it('refuses a frame over the maximum size before reading its payload', () => {
    const header = encodeFrame(FrameType.RequestBody, pattern(1025)).subarray(0, 5);
    const r = decode([header, pattern(1025)], undefined, 1024);
    assert.deepEqual(r.frames, []);
    assert.deepEqual(r.errors.map((e) => e.code), ['PORTICO_ERR_NATIVE_FRAME_TOO_BIG']);
    assert.deepEqual(decode([encodeFrame(FrameType.RequestHead, pattern(1024))], undefined, 1024).errors, []);
    const huge = Buffer.from([FrameType.ResponseBody, 0, 0, 0, 0]);
    huge.writeUInt32LE(MAX_FRAME_SIZE + 1, 1);
    assert.deepEqual(decode([huge]).errors.map((e) => e.code), ['PORTICO_ERR_NATIVE_FRAME_TOO_BIG']);
  });

  it('refuses unknown, misplaced and truncated frames with coded errors', () => {
    const codes = (pieces: Buffer[], side?: FrameSide): string[] => decode(pieces, side).errors.map((e) => e.code);
    assert.deepEqual(codes([Buffer.from('GET / HTTP/1.1\r\n')]), ['PORTICO_ERR_NATIVE_BAD_FRAME']);
    assert.deepEqual(codes([encodeFrame(FrameType.RequestBody, 'x')], 'worker'), ['PORTICO_ERR_NATIVE_BAD_FRAME']);
    assert.deepEqual(codes([encodeFrame(FrameType.ResponseHead, 'x')], 'gateway'), ['PORTICO_ERR_NATIVE_BAD_FRAME']);
    assert.deepEqual(codes([encodeFrame(FrameType.ResponseEnd)], 'worker'), ['PORTICO_ERR_NATIVE_BAD_FRAME']);
    assert.deepEqual(codes([encodeFrame(FrameType.RequestHead, 'x'), encodeFrame(FrameType.RequestEnd, 'x')], 'worker'), ['PORTICO_ERR_NATIVE_BAD_FRAME']);
    assert.deepEqual(codes([encodeFrame(FrameType.RequestHead, 'abc').subarray(0, 6)]), ['PORTICO_ERR_NATIVE_TRUNCATED']);
    assert.deepEqual(codes([encodeFrame(FrameType.RequestHead, 'x')], 'worker'), ['PORTICO_ERR_NATIVE_TRUNCATED']);
    assert.deepEqual(codes([], 'gateway'), ['PORTICO_ERR_NATIVE_HANDSHAKE']);
    assert.deepEqual(codes([], 'worker'), []);
    // After an error nothing more is decoded.
    const r = decode([Buffer.from([0]), encodeFrame(FrameType.RequestEnd)]);
    assert.equal(r.frames.length, 0);
    assert.equal(r.errors.length, 1);
  });
});

describe('native link handshake and response heads', () => {
  /** Runs the whole handshake as the two sides would: HELLO through the uwsgi decoder, HELLO_ACK through frames. */
  function handshake(readerVersion: number, writerVersion: number): ReturnType<typeof completeHandshake> {
    let head: PacketHead | undefined;
    new PacketDecoder({ onHead: (h) => void (head = h), onBody() {}, onEnd() {}, onError: assert.fail },
      { modifiers: new Set([0, NATIVE_MODIFIER1]) }).push(encodeHello(readerVersion));
    assert.equal(head!.modifier1, NATIVE_MODIFIER1);
    let ack: Buffer;
    try {
      ack = acceptHello(parseHelloVars(head!.vars), writerVersion);
    } catch (err) {
      ack = encodeHelloRefusal(err as PorticoError);
    }
    const { frames, errors } = decode([ack], 'gateway');
    assert.deepEqual(errors, []);
    return completeHandshake(frames[0]![1], readerVersion);
  }

  it('a v2 gateway reads a v1 worker through the resolver, with the v2 default', () => {
    const reader = handshake(2, 1);
    assert.equal(reader.writerVersion, 1);
    assert.ok(reader.resolver, 'a resolver for the older writer');
    const decoded = decodeResponseHead(encodeResponseHeadFrame(HEAD, 1).subarray(5), reader);
    assert.deepEqual({ ...decoded }, { ...HEAD, workerPid: 0 });
    assert.equal(handshake(2, 1), reader, 'cached by fingerprint: built once, not per connection');
  });

  it('v2 to v2 reads directly, every field kept', () => {
    const reader = handshake(2, 2);
    assert.equal(reader.resolver, undefined);
    assert.deepEqual({ ...decodeResponseHead(encodeResponseHeadFrame(HEAD).subarray(5), reader) }, HEAD);
  });

  it('refuses a worker newer than the gateway reads, an unknown schema, and a schema not matching its fingerprint', () => {
    expectCode(() => handshake(1, 2), 'PORTICO_ERR_NATIVE_SCHEMA');
    const incompatible = forSchema({ type: 'record', name: 'ResponseHead', namespace: 'portico.native', fields: [{ name: 'status', type: 'string' }] });
    const ackFor = (fingerprint: string, json: string): Buffer => {
      const p = Buffer.alloc(3 + 16 + Buffer.byteLength(json));
      p.writeUInt16LE(2, 1);
      p.write(fingerprint, 3, 16, 'hex');
      p.write(json, 19);
      return p;
    };
    const json = JSON.stringify(incompatible.schema());
    expectCode(() => completeHandshake(ackFor(incompatible.fingerprint().toString('hex'), json)), 'PORTICO_ERR_NATIVE_SCHEMA');
    expectCode(() => completeHandshake(ackFor(headSchema(2)!.fingerprint, json)), 'PORTICO_ERR_NATIVE_SCHEMA');
    expectCode(() => headReaderFor({ version: 2, fingerprint: headSchema(2)!.fingerprint, schemaJson: '{' }), 'PORTICO_ERR_NATIVE_HANDSHAKE');
    // The right schema written another way (defaults exported, keys reordered) still matches its fingerprint.
    const v2 = headSchema(2)!;
    const spelled = JSON.stringify(v2.type.schema({ exportAttrs: true }));
    assert.notEqual(spelled, v2.canonicalJson);
    assert.equal(headReaderFor({ version: 2, fingerprint: v2.fingerprint, schemaJson: spelled }).writerVersion, 2);
  });

  it('refuses a malformed HELLO or HELLO_ACK, and a HELLO of another link version', () => {
    expectCode(() => parseHelloVars(new UwsgiVars(['PORTICO_LINK', '1'])), 'PORTICO_ERR_NATIVE_HANDSHAKE');
    expectCode(() => parseHelloVars(new UwsgiVars(['PORTICO_LINK', '1', 'PORTICO_HEAD_SCHEMAS', '2:zz'])), 'PORTICO_ERR_NATIVE_HANDSHAKE');
    const hello = parseHelloVars(new UwsgiVars(['PORTICO_LINK', '2', 'PORTICO_HEAD_SCHEMAS', `2:${headSchema(2)!.fingerprint}`]));
    expectCode(() => acceptHello(hello), 'PORTICO_ERR_NATIVE_HANDSHAKE');
    expectCode(() => decodeHello(Buffer.from([0, 0, 0, 0])), 'PORTICO_ERR_NATIVE_HANDSHAKE');
    assert.equal(decodeHello(encodeHello().subarray(0, 10)), null);
    expectCode(() => parseHelloAck(Buffer.from([7])), 'PORTICO_ERR_NATIVE_HANDSHAKE');
    expectCode(() => parseHelloAck(Buffer.alloc(0)), 'PORTICO_ERR_NATIVE_HANDSHAKE');
  });

  it('an old worker refuses modifier1 77 as unknown, which is how a gateway tells it has no native link', () => {
    const errors: string[] = [];
    new PacketDecoder({ onHead: () => assert.fail('decoded'), onBody() {}, onEnd() {}, onError: (e) => errors.push(e.code) }).push(encodeHello());
    assert.deepEqual(errors, ['PORTICO_ERR_UNKNOWN_MODIFIER']);
  });

  it('a malformed head is PORTICO_ERR_BAD_RESPONSE, and a huge array count fails at once', () => {
    const reader = handshake(2, 1);
    const frame = encodeResponseHeadFrame(HEAD, 1).subarray(5);
    expectCode(() => decodeResponseHead(frame.subarray(0, frame.length - 1), reader), 'PORTICO_ERR_BAD_RESPONSE');
    expectCode(() => decodeResponseHead(Buffer.concat([frame, Buffer.from([0])]), reader), 'PORTICO_ERR_BAD_RESPONSE');
    const started = Date.now();
    expectCode(() => decodeResponseHead(Buffer.from([0, 0, 0x80, 0x80, 0x80, 0x80, 0x01]), reader), 'PORTICO_ERR_BAD_RESPONSE');
    assert.ok(Date.now() - started < 100, 'a 2^27 count is refused, not looped over');
    expectCode(() => encodeResponseHeadFrame({ ...HEAD, headers: ['x'] }), 'PORTICO_ERR_INVALID_HEADER');
  });
});

describe('native link fuzz', () => {
  const isCoded = (err: unknown): boolean => isPorticoError(err) && err.code in ErrorCodes;
  const noise = (rand: () => number, n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
  const mutate = (rand: () => number, src: Buffer): Buffer => {
    const out = Buffer.from(src);
    for (let k = 1 + Math.floor(rand() * 6); k > 0; k--) out[Math.floor(rand() * out.length)] = Math.floor(rand() * 256);
    return out;
  };

  it('random and mutated bytes into the frame decoder raise only PORTICO_ERR_* errors', () => {
    const valid = [requestStream(), responseStream()];
    const sides: Array<FrameSide | undefined> = [undefined, 'worker', 'gateway'];
    let errors = 0;
    for (let seed = 1; seed <= 3000; seed++) {
      const rand = rng(seed);
      const src = valid[seed % 2]!;
      // Pure noise, or a valid stream cut short with a few bytes changed (which gets past the first header).
      const bytes = rand() < 0.4 ? noise(rand, Math.floor(rand() * 96)) : mutate(rand, src.subarray(0, 1 + Math.floor(rand() * src.length)));
      const pieces: Buffer[] = [];
      for (let pos = 0; pos < bytes.length;) {
        const n = 1 + Math.floor(rand() * 40);
        pieces.push(bytes.subarray(pos, pos + n));
        pos += n;
      }
      const maxFrameSize = rand() < 0.5 ? 16 + Math.floor(rand() * 8192) : undefined;
      const r = decode(pieces, sides[seed % 3], maxFrameSize);
      assert.ok(r.errors.length <= 1, `seed ${seed}: one error, then nothing`);
      for (const e of r.errors) assert.ok(isCoded(e), `seed ${seed}: ${String(e)}`);
      errors += r.errors.length;
    }
    assert.ok(errors > 1000, `the fuzz reaches the error paths (${errors} errors)`);
  });

  it('random payloads into the head, HELLO and HELLO_ACK decoders raise only PORTICO_ERR_* errors', () => {
    const v2 = headSchema(2)!;
    const v1 = headSchema(1)!;
    const readers = [headReaderFor(v2), headReaderFor(v1)];
    const head = encodeResponseHeadFrame(HEAD).subarray(5);
    const decoders: Array<(p: Buffer) => unknown> = [
      (p) => decodeResponseHead(p, readers[0]!), (p) => decodeResponseHead(p, readers[1]!), (p) => decodeRequestHead(p),
      (p) => parseHelloAck(p), (p) => completeHandshake(p), (p) => decodeHello(Buffer.concat([Buffer.from([NATIVE_MODIFIER1]), p])),
    ];
    for (let seed = 1; seed <= 2000; seed++) {
      const rand = rng(seed);
      const p = rand() < 0.5 ? noise(rand, Math.floor(rand() * 64)) : mutate(rand, head.subarray(0, 1 + Math.floor(rand() * head.length)));
      for (const fn of decoders) {
        try {
          fn(p);
        } catch (err) {
          assert.ok(isCoded(err), `seed ${seed}: ${String(err)}`);
        }
      }
    }
  });
});
