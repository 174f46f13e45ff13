import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { ErrorCodes, isPorticoError, type PorticoError } from '../../../../common/errors.js';
import { PacketDecoder, type PacketHead } from '../../../../protocol/uwsgi/packet-decoder.js';
import { encodePacketHead } from '../../../../protocol/uwsgi/packet-encoder.js';
import { UwsgiVars } from '../../../../protocol/uwsgi/uwsgi-vars.js';
import {
  COALESCE_LIMIT,
  FrameDecoder,
  FrameType,
  LINK_VERSION,
  MAX_FRAME_SIZE,
  NATIVE_MODIFIER1,
  NATIVE_MODIFIER2,
  STREAM_FRAME_HEADER_SIZE,
  StreamFrameWriter,
  acceptHello,
  completeHandshake,
  decodeRequestHead,
  decodeResponseHead,
  encodeHello,
  encodeHelloRefusal,
  HEAD_SCHEMAS,
  headReaderFor,
  isBodyFrame,
  parseHelloAck,
  parseHelloVars,
  queueStreamRequest,
  queueStreamResponseHead,
  type FrameSide,
  type Hello,
  type NativeResponseHead,
} from '../../../../protocol/link/index.js';
import { forSchema } from '../../../../protocol/link/bounded-avro.js';
import { FROZEN_V1_FINGERPRINT, FROZEN_V1_JSON, NEXT_BUILD, type NextHead } from '../../../support/head-schemas.js';
import { HEAD, avroHead, pattern, requestStream, responseStream, rng, decodeHello } from '../../../support/link-frames.js';

const H = STREAM_FRAME_HEADER_SIZE;

function expectCode(fn: () => unknown, code: keyof typeof ErrorCodes, message?: string): void {
  assert.throws(fn, (err: unknown) => isPorticoError(err) && err.code === code, message);
}

/** A frame, built by hand (independently of StreamFrameWriter). */
function frameBytes(type: number, stream: number, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const out = Buffer.alloc(H + p.length);
  out[0] = type;
  out.writeUInt32LE(stream, 1);
  out.writeUInt32LE(p.length, 5);
  p.copy(out, H);
  return out;
}

function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value, 0);
  return b;
}

type Frame = [type: number, stream: number, payload: Buffer];

/** Walks frames in a byte string by their headers: each frame as written, nothing merged. */
function walk(buf: Buffer): Frame[] {
  const out: Frame[] = [];
  let pos = 0;
  while (pos < buf.length) {
    assert.ok(buf.length - pos >= H, `a whole header at ${pos}`);
    const length = buf.readUInt32LE(pos + 5);
    assert.ok(buf.length - pos - H >= length, `a whole payload at ${pos}`);
    out.push([buf[pos]!, buf.readUInt32LE(pos + 1), Buffer.from(buf.subarray(pos + H, pos + H + length))]);
    pos += H + length;
  }
  return out;
}

interface DecodeOptions {
  side?: FrameSide;
  maxFrameSize?: number;
  /** Side 'gateway': the decoder first reads an accepting HELLO_ACK (not passed on), as on a live link; false: only what is given. */
  acked?: boolean;
}

/**
 * Decodes pieces with a FrameDecoder; consecutive body pieces of the same type and stream are
 * merged (a body is a byte stream), so the result does not depend on where the input was split.
 */
function decodeFrames(pieces: Buffer[], options: DecodeOptions = {}): { frames: Frame[]; errors: PorticoError[] } {
  const frames: Frame[] = [];
  const errors: PorticoError[] = [];
  const d = new FrameDecoder(
    {
      onFrame(type, payload, stream) {
        const last = frames.at(-1);
        if (isBodyFrame(type) && last && last[0] === type && last[1] === stream) last[2] = Buffer.concat([last[2], payload]);
        else frames.push([type, stream, Buffer.from(payload)]);
      },
      onError: (err) => errors.push(err),
    },
    options,
  );
  if (options.side === 'gateway' && options.acked !== false) {
    d.push(acceptHello(helloOf(encodeHello())));
    frames.length = 0;
  }
  for (const p of pieces) d.push(p);
  d.end();
  return { frames, errors };
}

/** Every two-piece split and the byte-by-byte split of `bytes` decode to `expected`. */
function assertSplitInvariant(bytes: Buffer, decodeAll: (pieces: Buffer[]) => unknown, expected: unknown): void {
  assert.deepEqual(decodeAll([bytes]), expected, 'whole');
  for (let i = 0; i <= bytes.length; i++) {
    assert.deepEqual(decodeAll([bytes.subarray(0, i), bytes.subarray(i)]), expected, `split at ${i}`);
  }
  const single: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++) single.push(bytes.subarray(i, i + 1));
  assert.deepEqual(decodeAll(single), expected, 'byte by byte');
}

/** A fake net.Socket: records writes (a copy, as the kernel takes one, and the chunk itself) and cork/uncork. */
function fakeSink(writableLength = 0): {
  calls: Array<'cork' | 'uncork' | Uint8Array>;
  written: Uint8Array[];
  bytes(): Buffer;
  write(c: Uint8Array): boolean;
  cork(): void;
  uncork(): void;
  writableLength: number;
  destroyed: boolean;
} {
  const calls: Array<'cork' | 'uncork' | Uint8Array> = [];
  const copies: Buffer[] = [];
  const written: Uint8Array[] = [];
  return {
    calls,
    written,
    writableLength,
    destroyed: false,
    bytes: () => Buffer.concat(copies),
    write(c) {
      calls.push(c);
      written.push(c);
      copies.push(Buffer.from(c));
      return true;
    },
    cork: () => void calls.push('cork'),
    uncork: () => void calls.push('uncork'),
  };
}

function helloOf(buf: Buffer): Hello {
  const decoded = decodeHello(buf);
  assert.ok(decoded, 'a whole HELLO');
  assert.equal(decoded.size, buf.length);
  return decoded.hello;
}

/** A HELLO built by hand, as encodeHello builds it, with whatever vars. */
function helloWith(flat: string[]): Buffer {
  return encodePacketHead({ modifier1: NATIVE_MODIFIER1, modifier2: NATIVE_MODIFIER2, vars: new UwsgiVars(flat) });
}

const CURRENT = HEAD_SCHEMAS.current;
const SCHEMAS = `1:${CURRENT.fingerprint}`;

describe('native link: negotiation', () => {
  const hello = (): Hello => helloOf(encodeHello());

  it('the HELLO says PORTICO_LINK 2 and the schemas the gateway reads, as a plain uwsgi packet', () => {
    assert.equal(LINK_VERSION, 2);
    assert.deepEqual(encodeHello(), helloWith(['PORTICO_LINK', '2', 'PORTICO_HEAD_SCHEMAS', SCHEMAS]));
    assert.deepEqual(hello(), { linkVersion: 2, readable: [{ version: 1, fingerprint: CURRENT.fingerprint }] });
  });

  it('the ACK: u8 2, u16le link version, u16le schema version, the fingerprint, the schema JSON', () => {
    const ack = acceptHello(hello());
    assert.equal(ack[0], FrameType.HelloAck);
    assert.equal(ack.readUInt32LE(1), ack.length - 5, 'framed with a 5-byte header: the one frame without a stream id');
    const payload = ack.subarray(5);
    assert.equal(payload[0], 2);
    assert.equal(payload.readUInt16LE(1), LINK_VERSION);
    assert.equal(payload.readUInt16LE(3), CURRENT.version);
    assert.equal(payload.toString('hex', 5, 21), CURRENT.fingerprint);
    assert.equal(payload.toString('utf8', 21), CURRENT.canonicalJson);
    assert.deepEqual(parseHelloAck(payload), { version: 1, fingerprint: CURRENT.fingerprint, schemaJson: CURRENT.canonicalJson });
    assert.equal(completeHandshake(payload), completeHandshake(payload), 'the reader is cached, not built per link');
  });

  it('a worker refuses a gateway of link version 1 (or any other) with a coded refusal the gateway reads', () => {
    // A version 1 gateway said PORTICO_LINK 1, and PORTICO_LINK_MAX 2 when it also offered streams.
    for (const flat of [
      ['PORTICO_LINK', '1', 'PORTICO_HEAD_SCHEMAS', SCHEMAS],
      ['PORTICO_LINK', '1', 'PORTICO_HEAD_SCHEMAS', SCHEMAS, 'PORTICO_LINK_MAX', '2'],
      ['PORTICO_LINK', '3', 'PORTICO_HEAD_SCHEMAS', SCHEMAS],
    ]) {
      let refused: PorticoError | undefined;
      try {
        acceptHello(helloOf(helloWith(flat)));
      } catch (err) {
        refused = err as PorticoError;
      }
      assert.equal(refused?.code, 'PORTICO_ERR_NATIVE_HANDSHAKE', flat.join(' '));
      assert.match(refused.message, /this worker speaks 2 only/);
      const refusal = encodeHelloRefusal(refused);
      assert.throws(
        () => parseHelloAck(refusal.subarray(5)),
        (err: unknown) =>
          isPorticoError(err) && err.code === 'PORTICO_ERR_NATIVE_HANDSHAKE' && /the worker refused the link \(PORTICO_ERR_NATIVE_HANDSHAKE\): .*the gateway speaks link version/.test(err.message),
      );
    }
  });

  it('a gateway refuses the ACK of a link version 1 worker, and a truncated or unknown one', () => {
    // Version 1's accepting ACK: u8 0, then the schema version, fingerprint and JSON, no link version.
    const v1ack = Buffer.concat([Buffer.from([0, 1, 0]), Buffer.from(CURRENT.fingerprint, 'hex'), Buffer.from(CURRENT.canonicalJson)]);
    assert.throws(
      () => parseHelloAck(v1ack),
      (err: unknown) => isPorticoError(err) && err.code === 'PORTICO_ERR_NATIVE_HANDSHAKE' && /link version 1/.test(err.message),
    );
    const payload = acceptHello(hello()).subarray(5);
    for (let n = 1; n < 1 + 2 + 2 + 16; n++) {
      expectCode(() => parseHelloAck(payload.subarray(0, n)), 'PORTICO_ERR_NATIVE_HANDSHAKE', `truncated to ${n} bytes`);
      expectCode(() => completeHandshake(payload.subarray(0, n)), 'PORTICO_ERR_NATIVE_HANDSHAKE', `truncated to ${n} bytes`);
    }
    for (const link of [0, 1, 3, 9, 0xffff]) {
      const bad = Buffer.from(payload);
      bad.writeUInt16LE(link, 1);
      expectCode(() => parseHelloAck(bad), 'PORTICO_ERR_NATIVE_HANDSHAKE', `link version ${link}`);
    }
    const marker = Buffer.from(payload);
    marker[0] = 3;
    expectCode(() => parseHelloAck(marker), 'PORTICO_ERR_NATIVE_HANDSHAKE');
  });

  it('refuses a HELLO whose PORTICO_LINK is not a number', () => {
    for (const link of ['x', '', '2.5', '-2', ' 2', '2 ', '0x2', '123456', '1e1']) {
      expectCode(() => decodeHello(helloWith(['PORTICO_LINK', link, 'PORTICO_HEAD_SCHEMAS', SCHEMAS])), 'PORTICO_ERR_NATIVE_HANDSHAKE', `PORTICO_LINK ${JSON.stringify(link)}`);
    }
  });
});

describe('native link: frame decoder', () => {
  const vars = new UwsgiVars(['REQUEST_METHOD', 'POST', 'PATH_INFO', '/é']);
  const block = encodePacketHead({ vars }).subarray(4);
  const headPayload = avroHead(HEAD);

  const requestFrames: Frame[] = [
    [FrameType.RequestHead, 1, block],
    [FrameType.RequestHead, 3, block],
    [FrameType.RequestBody, 1, pattern(300)],
    [FrameType.ResponseCredit, 3, u32(65536)],
    [FrameType.RequestBody, 3, pattern(40, 5)],
    [FrameType.RequestEnd, 1, Buffer.alloc(0)],
    [FrameType.RequestBody, 3, pattern(7, 9)],
    [FrameType.RequestAbort, 3, Buffer.from('gone')],
    [FrameType.RequestHead, 0xfffffffe, block],
    [FrameType.RequestEnd, 0xfffffffe, Buffer.alloc(0)],
    [FrameType.ResponseCredit, 1, u32(0xffffffff)],
    [FrameType.RequestAbort, 5, Buffer.alloc(0)],
  ];
  const responseFrames: Frame[] = [
    [FrameType.ResponseHead, 1, headPayload],
    [FrameType.ResponseHead, 2, headPayload],
    [FrameType.ResponseBody, 1, Buffer.from('héllo')],
    [FrameType.RequestCredit, 2, u32(32768)],
    [FrameType.ResponseBody, 2, pattern(200, 3)],
    [FrameType.ResponseEnd, 1, Buffer.alloc(0)],
    [FrameType.ResponseAbort, 2, Buffer.from('boom')],
    [FrameType.GoAway, 0, u32(2)],
  ];
  const bytesOf = (frames: Frame[]): Buffer => Buffer.concat(frames.map(([t, s, p]) => frameBytes(t, s, p)));

  for (const [name, frames, side] of [
    ['request', requestFrames, 'worker'],
    ['response', responseFrames, 'gateway'],
  ] as const) {
    it(`${name} frames on interleaved streams decode the same split at every byte boundary (side ${side}, and no side)`, () => {
      const bytes = bytesOf(frames);
      for (const s of [side, undefined]) {
        assertSplitInvariant(bytes, (pieces) => decodeFrames(pieces, { side: s }), { frames, errors: [] });
      }
    });
  }

  it('passes body pieces on as bytes arrive, each with its stream id, uncopied', () => {
    const seen: Array<[number, number, Buffer]> = [];
    const d = new FrameDecoder({ onFrame: (t, p, s) => void seen.push([t, s, p]), onError: assert.fail }, { side: 'worker' });
    const frame = frameBytes(FrameType.RequestBody, 77, pattern(100));
    const first = frame.subarray(0, H + 30);
    d.push(first);
    assert.equal(seen.length, 1, 'the first 30 bytes are passed on before the rest arrives');
    assert.deepEqual(seen[0]!.slice(0, 2), [FrameType.RequestBody, 77]);
    assert.deepEqual(seen[0]![2], pattern(100).subarray(0, 30));
    assert.equal(seen[0]![2].buffer, first.buffer, 'a subarray of the pushed chunk');
    d.push(frame.subarray(H + 30, H + 31));
    d.push(Buffer.concat([frame.subarray(H + 31), frameBytes(FrameType.RequestEnd, 77)]));
    assert.deepEqual(
      seen.map(([t, s, p]) => [t, s, p.length]),
      [
        [2, 77, 30],
        [2, 77, 1],
        [2, 77, 69],
        [3, 77, 0],
      ],
    );
    assert.deepEqual(Buffer.concat(seen.slice(0, 3).map((x) => x[2])), pattern(100));
  });

  it('refuses frames from the wrong direction on each side, and unknown types', () => {
    const codes = (frame: Buffer, side?: FrameSide): string[] => decodeFrames([frame], { side }).errors.map((e) => e.code);
    const worker = [1, 2, 3, 4, 5];
    const gateway = [17, 18, 19, 20, 21, 22];
    for (const t of [...worker, ...gateway, 16, 0, 6, 15, 23, 255]) {
      const frame = frameBytes(t, 1, t === 3 || t === 19 ? '' : 'abcd');
      const expectWorker = worker.includes(t) ? [] : ['PORTICO_ERR_NATIVE_BAD_FRAME'];
      const expectGateway = gateway.includes(t) ? [] : ['PORTICO_ERR_NATIVE_BAD_FRAME'];
      assert.deepEqual(codes(frame, 'worker'), expectWorker, `type ${t} at the worker`);
      assert.deepEqual(codes(frame, 'gateway'), expectGateway, `type ${t} at the gateway`);
    }
    // After the error nothing more is decoded.
    const r = decodeFrames([Buffer.concat([frameBytes(FrameType.ResponseHead, 1, 'x'), frameBytes(FrameType.RequestHead, 1, 'x')])], { side: 'worker' });
    assert.deepEqual([r.frames.length, r.errors.length], [0, 1]);
  });

  it('refuses a non-empty END on either side and without a side', () => {
    for (const [type, side] of [
      [FrameType.RequestEnd, 'worker'],
      [FrameType.ResponseEnd, 'gateway'],
      [FrameType.RequestEnd, undefined],
      [FrameType.ResponseEnd, undefined],
    ] as const) {
      const r = decodeFrames([frameBytes(type, 4, 'x')], { side });
      assert.deepEqual(
        r.errors.map((e) => e.code),
        ['PORTICO_ERR_NATIVE_BAD_FRAME'],
        `type ${type} side ${side}`,
      );
      assert.deepEqual(r.frames, []);
    }
  });

  it('refuses an oversize frame from its header, before its payload arrives; the stream id is not the length', () => {
    for (const type of [FrameType.RequestBody, FrameType.RequestHead]) {
      const errors: string[] = [];
      const frames: number[] = [];
      const d = new FrameDecoder({ onFrame: (t) => void frames.push(t), onError: (e) => errors.push(e.code) }, { side: 'worker', maxFrameSize: 1024 });
      const frame = frameBytes(type, 1, pattern(1025));
      d.push(frame.subarray(0, H));
      assert.deepEqual(errors, ['PORTICO_ERR_NATIVE_FRAME_TOO_BIG'], 'raised on the header alone');
      d.push(frame.subarray(H));
      assert.deepEqual([errors.length, frames.length], [1, 0]);
    }
    assert.deepEqual(decodeFrames([frameBytes(FrameType.RequestHead, 0xffffffff, pattern(1024))], { side: 'worker', maxFrameSize: 1024 }).errors, []);
    const huge = frameBytes(FrameType.ResponseBody, 1);
    huge.writeUInt32LE(MAX_FRAME_SIZE + 1, 5);
    assert.deepEqual(
      decodeFrames([huge], { side: 'gateway' }).errors.map((e) => e.code),
      ['PORTICO_ERR_NATIVE_FRAME_TOO_BIG'],
    );
  });

  it('the gateway reads HELLO_ACK with its 5-byte header, then stream frames from the same chunk', () => {
    const ack = acceptHello(helloOf(encodeHello()));
    const bytes = Buffer.concat([ack, bytesOf(responseFrames)]);
    const run = (pieces: Buffer[]): { frames: Frame[]; errors: string[]; schema: number } => {
      const frames: Frame[] = [];
      const errors: string[] = [];
      let schema = 0;
      const d: FrameDecoder = new FrameDecoder(
        {
          onFrame(type, payload, stream) {
            if (type === FrameType.HelloAck) return void (schema = completeHandshake(payload).writerVersion);
            const last = frames.at(-1);
            if (isBodyFrame(type) && last && last[0] === type && last[1] === stream) last[2] = Buffer.concat([last[2], payload]);
            else frames.push([type, stream, Buffer.from(payload)]);
          },
          onError: (e) => errors.push(e.code),
        },
        { side: 'gateway' },
      );
      for (const p of pieces) d.push(p);
      return { frames, errors, schema };
    };
    assertSplitInvariant(bytes, run, { frames: responseFrames, errors: [], schema: 1 });
    // Any frame before HELLO_ACK, and a second HELLO_ACK, is out of place.
    assert.deepEqual(run([frameBytes(FrameType.ResponseHead, 1, headPayload)]).errors, ['PORTICO_ERR_NATIVE_BAD_FRAME']);
    assert.deepEqual(run([Buffer.concat([ack, frameBytes(FrameType.HelloAck, 0, ack.subarray(5))])]).errors, ['PORTICO_ERR_NATIVE_BAD_FRAME']);
  });

  it('a close inside a frame is PORTICO_ERR_NATIVE_TRUNCATED; before HELLO_ACK, PORTICO_ERR_NATIVE_HANDSHAKE; between frames, nothing', () => {
    const codes = (pieces: Buffer[], side?: FrameSide): string[] => decodeFrames(pieces, { side }).errors.map((e) => e.code);
    assert.deepEqual(codes([frameBytes(FrameType.RequestHead, 1, 'abc').subarray(0, H + 1)], 'worker'), ['PORTICO_ERR_NATIVE_TRUNCATED']);
    assert.deepEqual(codes([frameBytes(FrameType.RequestHead, 1, 'abc').subarray(0, 4)], 'worker'), ['PORTICO_ERR_NATIVE_TRUNCATED']);
    assert.deepEqual(
      decodeFrames([], { side: 'gateway', acked: false }).errors.map((e) => e.code),
      ['PORTICO_ERR_NATIVE_HANDSHAKE'],
    );
    assert.deepEqual(codes([frameBytes(FrameType.RequestHead, 1, 'abc')], 'worker'), []);
    assert.deepEqual(codes([], 'worker'), []);
  });
});

describe('native link: StreamFrameWriter', () => {
  it('writes the frames of one turn in one write at setImmediate, none before', async () => {
    const s = fakeSink();
    const w = new StreamFrameWriter(s);
    w.frame(FrameType.RequestHead, 1, Buffer.from('head'));
    w.u32(FrameType.ResponseCredit, 3, 0xdeadbeef);
    w.body(FrameType.RequestBody, 1, 'héllo');
    w.body(FrameType.RequestBody, 1, Buffer.from('!'));
    w.body(FrameType.RequestBody, 1, '');
    w.body(FrameType.RequestBody, 1, Buffer.alloc(0));
    w.frame(FrameType.RequestEnd, 1);
    w.u32(FrameType.GoAway, 0, 5);
    assert.equal(s.calls.length, 0, 'nothing written within the turn');
    await tick();
    assert.equal(s.calls.length, 1, 'one write, no cork');
    assert.ok(s.calls[0] instanceof Uint8Array);
    const expected: Frame[] = [
      [FrameType.RequestHead, 1, Buffer.from('head')],
      [FrameType.ResponseCredit, 3, u32(0xdeadbeef)],
      [FrameType.RequestBody, 1, Buffer.from('héllo')],
      [FrameType.RequestBody, 1, Buffer.from('!')],
      [FrameType.RequestEnd, 1, Buffer.alloc(0)],
      [FrameType.GoAway, 0, u32(5)],
    ];
    assert.deepEqual(walk(s.bytes()), expected, 'empty bodies write no frame');
    assert.deepEqual(decodeFrames([s.bytes()]), {
      frames: [expected[0]!, expected[1]!, [FrameType.RequestBody, 1, Buffer.from('héllo!')], expected[4]!, expected[5]!],
      errors: [],
    });
    await tick();
    assert.equal(s.calls.length, 1, 'nothing more once the turn is written');
  });

  it('lets a payload over the coalesce limit ride uncopied between cork and uncork', async () => {
    const s = fakeSink();
    const w = new StreamFrameWriter(s);
    const big = pattern(5000);
    const edge = pattern(COALESCE_LIMIT, 1);
    w.frame(FrameType.ResponseHead, 2, Buffer.from('h'));
    w.body(FrameType.ResponseBody, 2, big);
    w.body(FrameType.ResponseBody, 4, edge);
    w.frame(FrameType.ResponseEnd, 2);
    await tick();
    assert.equal(s.calls[0], 'cork');
    assert.equal(s.calls.at(-1), 'uncork');
    assert.equal(s.calls.length, 5, 'cork, frames before, the big payload, frames after, uncork');
    assert.equal(s.calls[2], big, 'the same Buffer, not a copy');
    assert.equal(s.calls.filter((c) => c === big).length, 1);
    assert.deepEqual(decodeFrames([s.bytes()], { side: 'gateway' }), {
      frames: [
        [FrameType.ResponseHead, 2, Buffer.from('h')],
        [FrameType.ResponseBody, 2, big],
        [FrameType.ResponseBody, 4, edge],
        [FrameType.ResponseEnd, 2, Buffer.alloc(0)],
      ],
      errors: [],
    });
  });

  it('splits a body over maxFrameSize into frames of at most maxFrameSize', async () => {
    const s = fakeSink();
    const w = new StreamFrameWriter(s);
    const small = pattern(10_000);
    const large = pattern(12_000, 2);
    const text = 'ü'.repeat(3000); // 6000 UTF-8 bytes, past the inline string path
    w.body(FrameType.RequestBody, 1, small, 3000);
    w.body(FrameType.RequestBody, 2, large, 5000);
    w.body(FrameType.RequestBody, 3, text, 4000);
    w.body(FrameType.RequestBody, 4, pattern(3000, 3), 3000);
    await tick();
    const frames = walk(s.bytes());
    assert.deepEqual(
      frames.map(([t, st, p]) => [t, st, p.length]),
      [
        [2, 1, 3000],
        [2, 1, 3000],
        [2, 1, 3000],
        [2, 1, 1000],
        [2, 2, 5000],
        [2, 2, 5000],
        [2, 2, 2000],
        [2, 3, 4000],
        [2, 3, 2000],
        [2, 4, 3000],
      ],
    );
    const join = (st: number): Buffer => Buffer.concat(frames.filter((f) => f[1] === st).map((f) => f[2]));
    assert.deepEqual(join(1), small);
    assert.deepEqual(join(2), large);
    assert.deepEqual(join(3).toString('utf8'), text);
    const uncopied = s.written.filter((c) => c.length === 5000);
    assert.equal(uncopied.length, 2);
    for (const c of uncopied) assert.equal(c.buffer, large.buffer, 'large pieces are subarrays of the body');
    assert.deepEqual(decodeFrames([s.bytes()], { side: 'worker', maxFrameSize: 5000 }).errors, []);
  });

  it('flush() writes early; a destroyed sink gets nothing', async () => {
    const s = fakeSink();
    const w = new StreamFrameWriter(s);
    w.frame(FrameType.RequestAbort, 9, Buffer.from('bye'));
    w.flush();
    assert.equal(s.calls.length, 1);
    assert.deepEqual(walk(s.bytes()), [[FrameType.RequestAbort, 9, Buffer.from('bye')]]);
    w.frame(FrameType.RequestEnd, 10);
    await tick();
    assert.deepEqual(walk(s.bytes()), [
      [FrameType.RequestAbort, 9, Buffer.from('bye')],
      [FrameType.RequestEnd, 10, Buffer.alloc(0)],
    ]);
    await tick();
    assert.equal(s.calls.length, 2);
    const dead = fakeSink();
    dead.destroyed = true;
    const d = new StreamFrameWriter(dead);
    d.frame(FrameType.RequestEnd, 1);
    d.body(FrameType.RequestBody, 1, pattern(9000));
    await tick();
    assert.equal(dead.calls.length, 0);
  });

  it('turn after turn the output stays right, whether or not the sink took the last write whole', async () => {
    for (const pending of [0, 100]) {
      const s = fakeSink(pending);
      const w = new StreamFrameWriter(s);
      const turns: Frame[][] = [];
      for (let turn = 0; turn < 3; turn++) {
        const frames: Frame[] = [
          [FrameType.ResponseHead, turn + 1, Buffer.from(`head ${turn}`)],
          [FrameType.ResponseBody, turn + 1, pattern(100 + turn, turn)],
          [FrameType.ResponseEnd, turn + 1, Buffer.alloc(0)],
        ];
        for (const [t, st, p] of frames) w.frame(t as FrameType, st, p);
        turns.push(frames);
        await tick();
      }
      assert.equal(s.calls.length, 3, 'one write a turn');
      assert.deepEqual(walk(s.bytes()), turns.flat(), `writableLength ${pending}: copies taken at write time`);
      if (pending > 0) {
        // The sink still holds its chunks (not yet written): the writer must not have written over them.
        turns.forEach((frames, i) => assert.deepEqual(walk(Buffer.from(s.written[i]!)), frames, `turn ${i} as handed over`));
      }
    }
  });
});

describe('native link: request and response heads', () => {
  const long = 'a'.repeat(60);
  const flat = [
    'REQUEST_METHOD',
    'GET',
    'PATH_INFO',
    '/ünïcødé/路径',
    'QUERY_STRING',
    '',
    'HTTP_X_LONG',
    long,
    'HTTP_X_LONG_UTF8',
    'é'.repeat(50),
    'HTTP_X_47',
    `${'b'.repeat(46)}é`,
    'HTTP_X_48',
    `${'c'.repeat(47)}é`,
    'HTTP_X_49',
    `${'d'.repeat(48)}é`,
    'HTTP_EMOJI',
    '😀 x',
    'HTTP_LONE_SURROGATE',
    'a\ud800b',
    'CONTENT_LENGTH',
    '42',
    `HTTP_${'K'.repeat(60)}`,
    'ascii',
  ];

  async function queued(fn: (w: StreamFrameWriter) => void): Promise<Buffer> {
    const s = fakeSink();
    fn(new StreamFrameWriter(s));
    await tick();
    return s.bytes();
  }

  /** The vars block as a uwsgi packet carries it. */
  function packetBlock(vars: UwsgiVars): Buffer {
    return encodePacketHead({ vars }).subarray(4);
  }

  it("queueStreamRequest's REQUEST_HEAD payload is the uwsgi packet's vars block byte for byte, and decodes back", async () => {
    const vars = new UwsgiVars(flat);
    const bytes = await queued((w) => {
      queueStreamRequest(w, 7, vars, true);
      queueStreamRequest(w, 9, vars, false);
    });
    const frames = walk(bytes);
    assert.deepEqual(
      frames.map(([t, s]) => [t, s]),
      [
        [FrameType.RequestHead, 7],
        [FrameType.RequestEnd, 7],
        [FrameType.RequestHead, 9],
      ],
    );
    assert.deepEqual(frames[0]![2], packetBlock(vars));
    assert.deepEqual(frames[2]![2], packetBlock(vars));
    assert.equal(frames[1]![2].length, 0);
    const head = decodeRequestHead(frames[0]![2]);
    assert.deepEqual(
      head.vars.flat,
      flat.map((v) => Buffer.from(v, 'utf8').toString('utf8')),
    );
    assert.equal(head.contentLength, 42);
    assert.deepEqual(decodeFrames([bytes], { side: 'worker' }).errors, []);
  });

  it('every string shape gives the uwsgi packet bytes: random vars of ASCII, Latin-1, CJK and astral characters', async () => {
    const alphabet = ['a', 'Z', '0', '/', ' ', '\u007f', '\u0080', 'é', 'ÿ', '€', '路', '😀', '\u0000'];
    let seed = 7;
    const rand = (n: number): number => (seed = (seed * 1103515245 + 12345) >>> 0) % n;
    for (let round = 0; round < 40; round++) {
      const f: string[] = [];
      for (let i = 0, n = 1 + rand(8); i < n; i++) {
        for (let k = 0; k < 2; k++) {
          let str = '';
          for (let j = 0, len = rand(70); j < len; j++) str += alphabet[rand(alphabet.length)];
          f.push(str);
        }
      }
      const vars = new UwsgiVars(f);
      const frames = walk(await queued((w) => queueStreamRequest(w, round, vars, false)));
      assert.equal(frames.length, 1);
      assert.deepEqual(frames[0]![2], packetBlock(vars), `round ${round}: ${JSON.stringify(f)}`);
      // Names decode as latin1 (vars-decoder.ts), values as UTF-8.
      const expected = f.map((v, i) => Buffer.from(v, 'utf8').toString(i % 2 === 0 ? 'latin1' : 'utf8'));
      assert.deepEqual(decodeRequestHead(frames[0]![2]).vars.flat, expected);
    }
  });

  it('a vars block near the uwsgi limit takes the measuring path, and one past it throws', async () => {
    const vars = new UwsgiVars(['HTTP_BIG', 'x'.repeat(30_000), 'HTTP_BIG2', 'y'.repeat(30_000)]);
    const frames = walk(await queued((w) => queueStreamRequest(w, 1, vars, true)));
    assert.deepEqual(
      frames.map(([t, s, p]) => [t, s, p.length]),
      [
        [1, 1, packetBlock(vars).length],
        [3, 1, 0],
      ],
    );
    assert.deepEqual(frames[0]![2], packetBlock(vars));
    const s = fakeSink();
    const w = new StreamFrameWriter(s);
    expectCode(() => queueStreamRequest(w, 1, new UwsgiVars(['HTTP_BIG', 'x'.repeat(70_000)]), true), 'PORTICO_ERR_VARS_TOO_BIG');
    expectCode(() => queueStreamRequest(w, 1, new UwsgiVars(['A', 'x'.repeat(40_000), 'B', 'y'.repeat(40_000)]), true), 'PORTICO_ERR_VARS_TOO_BIG');
    queueStreamRequest(w, 2, new UwsgiVars(['REQUEST_METHOD', 'GET']), true);
    await tick();
    assert.deepEqual(
      walk(s.bytes()).map(([t, st]) => [t, st]),
      [
        [1, 2],
        [3, 2],
      ],
      'a refused head leaves nothing behind',
    );
  });

  it('queueStreamResponseHead round-trips through decodeResponseHead: the Avro record of the schema', async () => {
    const reader = completeHandshake(acceptHello(helloOf(encodeHello())).subarray(5));
    let size = 0;
    const bytes = await queued((w) => {
      size = queueStreamResponseHead(w, 11, HEAD);
      w.frame(FrameType.ResponseEnd, 11);
    });
    const frames = walk(bytes);
    assert.deepEqual(
      frames.map(([t, s]) => [t, s]),
      [
        [FrameType.ResponseHead, 11],
        [FrameType.ResponseEnd, 11],
      ],
    );
    assert.equal(size, H + frames[0]![2].length, 'returns the frame size');
    assert.deepEqual(frames[0]![2], avroHead(HEAD));
    assert.deepEqual({ ...decodeResponseHead(frames[0]![2], reader) }, HEAD);
    // Written by a build one version ahead, in its schema.
    const next: NextHead = { ...HEAD, server: 'next' };
    const ahead = walk(await queued((w) => queueStreamResponseHead(w, 1, next, NEXT_BUILD.current)));
    assert.deepEqual(ahead[0]![2], avroHead(next, NEXT_BUILD.current));
    expectCode(() => queueStreamResponseHead(new StreamFrameWriter(fakeSink()), 1, { ...HEAD, headers: ['x'] }), 'PORTICO_ERR_INVALID_HEADER');
  });

  it('a head bigger than a slab (many headers) goes into a new slab, in order with the frames around it', async () => {
    const headers: string[] = [];
    for (let i = 0; i < 1500; i++) headers.push(`x-header-${i}`, `value ${i} ${'v'.repeat(i % 13)}`);
    const big: NativeResponseHead = { status: 200, reason: 'OK', headers };
    const expectedPayload = avroHead(big);
    assert.ok(expectedPayload.length > 16 * 1024, `a head of ${expectedPayload.length} bytes`);
    const reader = completeHandshake(acceptHello(helloOf(encodeHello())).subarray(5));
    for (const before of [0, 1, 40]) {
      const s = fakeSink();
      const w = new StreamFrameWriter(s);
      for (let i = 0; i < before; i++) w.frame(FrameType.ResponseBody, 100 + i, pattern(200, i));
      const size = queueStreamResponseHead(w, 5, big);
      w.body(FrameType.ResponseBody, 5, 'after');
      queueStreamResponseHead(w, 6, HEAD);
      w.frame(FrameType.ResponseEnd, 5);
      await tick();
      const frames = walk(s.bytes());
      assert.equal(frames.length, before + 4);
      for (let i = 0; i < before; i++) assert.deepEqual(frames[i], [FrameType.ResponseBody, 100 + i, pattern(200, i)]);
      const [head, body, head2, end] = frames.slice(before);
      assert.deepEqual([head![0], head![1]], [FrameType.ResponseHead, 5]);
      assert.equal(size, H + expectedPayload.length);
      assert.deepEqual(head![2], expectedPayload);
      assert.deepEqual({ ...decodeResponseHead(head![2], reader) }, big);
      assert.deepEqual(body, [FrameType.ResponseBody, 5, Buffer.from('after')]);
      assert.deepEqual({ ...decodeResponseHead(head2![2], reader) }, HEAD);
      assert.deepEqual(end, [FrameType.ResponseEnd, 5, Buffer.alloc(0)]);
      assert.deepEqual(decodeFrames([s.bytes()], { side: 'gateway' }).errors, []);
    }
  });
});

describe('native link handshake and response heads', () => {
  type Build = typeof HEAD_SCHEMAS;
  /** Runs the whole handshake as the two sides would: HELLO through the uwsgi decoder, HELLO_ACK through frames. */
  function handshake(gateway: Build, worker: Build): ReturnType<typeof completeHandshake> {
    let head: PacketHead | undefined;
    new PacketDecoder({ onHead: (h) => void (head = h), onBody() {}, onEnd() {}, onError: assert.fail }, { modifiers: new Set([0, NATIVE_MODIFIER1]) }).push(encodeHello(gateway));
    assert.equal(head!.modifier1, NATIVE_MODIFIER1);
    let ack: Buffer;
    try {
      ack = acceptHello(parseHelloVars(head!.vars), worker);
    } catch (err) {
      ack = encodeHelloRefusal(err as PorticoError);
    }
    const { frames, errors } = decodeFrames([ack], { side: 'gateway', acked: false });
    assert.deepEqual(errors, []);
    return completeHandshake(frames[0]![2], gateway);
  }

  it('the shipped schema is the frozen v1, byte for byte: a shipped schema is never edited', () => {
    assert.equal(CURRENT.version, 1);
    assert.equal(CURRENT.canonicalJson, FROZEN_V1_JSON);
    assert.equal(CURRENT.fingerprint, FROZEN_V1_FINGERPRINT);
    assert.deepEqual(
      NEXT_BUILD.readable.map((s) => [s.version, s.fingerprint]),
      [
        [2, NEXT_BUILD.current.fingerprint],
        [1, FROZEN_V1_FINGERPRINT],
      ],
    );
  });

  it("a gateway one version ahead reads this build's heads through the resolver, with the new field's default", () => {
    const reader = handshake(NEXT_BUILD, HEAD_SCHEMAS);
    assert.deepEqual([reader.readerVersion, reader.writerVersion], [2, 1]);
    assert.ok(reader.resolver, 'a resolver for the older writer');
    assert.deepEqual({ ...decodeResponseHead(avroHead(HEAD), reader) }, { ...HEAD, server: '' });
    assert.equal(handshake(NEXT_BUILD, HEAD_SCHEMAS), reader, 'cached by fingerprint: built once, not per connection');
  });

  it('the same version reads directly, every field kept', () => {
    const reader = handshake(HEAD_SCHEMAS, HEAD_SCHEMAS);
    assert.equal(reader.resolver, undefined);
    assert.deepEqual({ ...decodeResponseHead(avroHead(HEAD), reader) }, HEAD);
    const next: NextHead = { ...HEAD, server: 'next' };
    assert.deepEqual({ ...decodeResponseHead(avroHead(next, NEXT_BUILD.current), handshake(NEXT_BUILD, NEXT_BUILD)) }, next);
  });

  it('refuses a worker newer than the gateway reads, an unknown schema, and a schema not matching its fingerprint', () => {
    expectCode(() => handshake(HEAD_SCHEMAS, NEXT_BUILD), 'PORTICO_ERR_NATIVE_SCHEMA');
    const incompatible = forSchema({ type: 'record', name: 'ResponseHead', namespace: 'portico.native', fields: [{ name: 'status', type: 'string' }] });
    const ackFor = (fingerprint: string, json: string): Buffer => {
      const p = Buffer.alloc(5 + 16 + Buffer.byteLength(json));
      p[0] = 2;
      p.writeUInt16LE(LINK_VERSION, 1);
      p.writeUInt16LE(1, 3);
      p.write(fingerprint, 5, 16, 'hex');
      p.write(json, 21);
      return p;
    };
    const json = JSON.stringify(incompatible.schema());
    expectCode(() => completeHandshake(ackFor(incompatible.fingerprint().toString('hex'), json)), 'PORTICO_ERR_NATIVE_SCHEMA');
    expectCode(() => completeHandshake(ackFor(CURRENT.fingerprint, json)), 'PORTICO_ERR_NATIVE_SCHEMA');
    expectCode(() => headReaderFor({ version: 1, fingerprint: CURRENT.fingerprint, schemaJson: '{' }), 'PORTICO_ERR_NATIVE_HANDSHAKE');
    // The right schema written another way (defaults exported, keys reordered) still matches its fingerprint.
    const v2 = NEXT_BUILD.current;
    const spelled = JSON.stringify(v2.type.schema({ exportAttrs: true }));
    assert.notEqual(spelled, v2.canonicalJson);
    assert.equal(headReaderFor({ version: 2, fingerprint: v2.fingerprint, schemaJson: spelled }, NEXT_BUILD).writerVersion, 2);
  });

  it('refuses a malformed HELLO or HELLO_ACK, and a HELLO of another link version', () => {
    expectCode(() => parseHelloVars(new UwsgiVars(['PORTICO_LINK', '1'])), 'PORTICO_ERR_NATIVE_HANDSHAKE');
    expectCode(() => parseHelloVars(new UwsgiVars(['PORTICO_LINK', '1', 'PORTICO_HEAD_SCHEMAS', '2:zz'])), 'PORTICO_ERR_NATIVE_HANDSHAKE');
    const hello = parseHelloVars(new UwsgiVars(['PORTICO_LINK', '1', 'PORTICO_HEAD_SCHEMAS', SCHEMAS]));
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
    const reader = handshake(NEXT_BUILD, HEAD_SCHEMAS);
    const frame = avroHead(HEAD);
    expectCode(() => decodeResponseHead(frame.subarray(0, frame.length - 1), reader), 'PORTICO_ERR_BAD_RESPONSE');
    expectCode(() => decodeResponseHead(Buffer.concat([frame, Buffer.from([0])]), reader), 'PORTICO_ERR_BAD_RESPONSE');
    const started = Date.now();
    expectCode(() => decodeResponseHead(Buffer.from([0, 0, 0x80, 0x80, 0x80, 0x80, 0x01]), reader), 'PORTICO_ERR_BAD_RESPONSE');
    assert.ok(Date.now() - started < 100, 'a 2^27 count is refused, not looped over');
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
      for (let pos = 0; pos < bytes.length; ) {
        const n = 1 + Math.floor(rand() * 40);
        pieces.push(bytes.subarray(pos, pos + n));
        pos += n;
      }
      const maxFrameSize = rand() < 0.5 ? 16 + Math.floor(rand() * 8192) : undefined;
      const r = decodeFrames(pieces, { side: sides[seed % 3], maxFrameSize });
      assert.ok(r.errors.length <= 1, `seed ${seed}: one error, then nothing`);
      for (const e of r.errors) assert.ok(isCoded(e), `seed ${seed}: ${String(e)}`);
      errors += r.errors.length;
    }
    assert.ok(errors > 1000, `the fuzz reaches the error paths (${errors} errors)`);
  });

  it('random payloads into the head, HELLO and HELLO_ACK decoders raise only PORTICO_ERR_* errors', () => {
    // This build reading its own heads, and a build one version ahead reading them through the resolver.
    const readers = [headReaderFor(CURRENT), headReaderFor(CURRENT, NEXT_BUILD)];
    const head = avroHead(HEAD);
    const decoders: Array<(p: Buffer) => unknown> = [
      (p) => decodeResponseHead(p, readers[0]!),
      (p) => decodeResponseHead(p, readers[1]!),
      (p) => decodeRequestHead(p),
      (p) => parseHelloAck(p),
      (p) => completeHandshake(p),
      (p) => decodeHello(Buffer.concat([Buffer.from([NATIVE_MODIFIER1]), p])),
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
