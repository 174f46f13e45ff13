import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { type ErrorCodes, isPorticoError, type PorticoError } from '../common/errors.js';
import { encodePacketHead } from '../protocol/packet-encoder.js';
import { UwsgiVars } from '../protocol/uwsgi-vars.js';
import {
  COALESCE_LIMIT, FrameDecoder, FrameType, LINK_VERSION, LINK_VERSION_STREAMS, MAX_FRAME_SIZE, NATIVE_MODIFIER1,
  NATIVE_MODIFIER2, STREAM_FRAME_HEADER_SIZE, StreamFrameWriter, acceptHello, agreedLinkVersion, completeHandshake,
  completeLinkHandshake, decodeHello, decodeRequestHead, decodeResponseHead, encodeHello, encodeResponseHeadFrame,
  headReaderFor, headSchema, isBodyFrame, parseHelloAck, parseHelloVars, queueStreamRequest, queueStreamResponseHead,
  writeRequestHead, type FrameSide, type Hello, type NativeResponseHead,
} from '../protocol/native/index.js';
import { HEAD, pattern, sink } from './support/native-frames.js';

const H = STREAM_FRAME_HEADER_SIZE;

function expectCode(fn: () => unknown, code: keyof typeof ErrorCodes, message?: string): void {
  assert.throws(fn, (err: unknown) => isPorticoError(err) && err.code === code, message);
}

/** A version 2 frame, built by hand (independently of StreamFrameWriter). */
function v2(type: number, stream: number, payload: Buffer | string = Buffer.alloc(0)): Buffer {
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

type V2Frame = [type: number, stream: number, payload: Buffer];

/** Walks version 2 frames in a byte string by their headers: each frame as written, nothing merged. */
function walk(buf: Buffer): V2Frame[] {
  const out: V2Frame[] = [];
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

interface DecodeOptions { side?: FrameSide; maxFrameSize?: number; streams?: boolean }

/**
 * Decodes pieces with a FrameDecoder; consecutive body pieces of the same type and stream are
 * merged (a body is a byte stream), so the result does not depend on where the input was split.
 */
function decodeV2(pieces: Buffer[], options: DecodeOptions = {}): { frames: V2Frame[]; errors: PorticoError[] } {
  const frames: V2Frame[] = [];
  const errors: PorticoError[] = [];
  const d = new FrameDecoder({
    onFrame(type, payload, stream) {
      const last = frames.at(-1);
      if (isBodyFrame(type) && last && last[0] === type && last[1] === stream) last[2] = Buffer.concat([last[2], payload]);
      else frames.push([type, stream, Buffer.from(payload)]);
    },
    onError: (err) => errors.push(err),
  }, { streams: true, ...options });
  for (const p of pieces) d.push(p);
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
    calls, written, writableLength, destroyed: false,
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

const SCHEMAS = `2:${headSchema(2)!.fingerprint},1:${headSchema(1)!.fingerprint}`;

describe('native link v2: negotiation', () => {
  const v1Hello = (): Hello => helloOf(encodeHello());
  const v2Hello = (): Hello => helloOf(encodeHello(undefined, 2));

  it('a v2-offering HELLO keeps PORTICO_LINK 1 and announces PORTICO_LINK_MAX 2; a v1 HELLO has no max', () => {
    assert.deepEqual({ link: v2Hello().linkVersion, max: v2Hello().maxLinkVersion }, { link: LINK_VERSION, max: LINK_VERSION_STREAMS });
    assert.deepEqual({ link: v1Hello().linkVersion, max: v1Hello().maxLinkVersion }, { link: 1, max: 1 });
    assert.deepEqual(v2Hello().readable, v1Hello().readable);
    // Same bytes as a hand-built HELLO with the var appended, and v1's HELLO is unchanged by the new parameter.
    assert.deepEqual(encodeHello(undefined, 2), helloWith(['PORTICO_LINK', '1', 'PORTICO_HEAD_SCHEMAS', SCHEMAS, 'PORTICO_LINK_MAX', '2']));
    assert.deepEqual(encodeHello(undefined, 1), encodeHello());
    assert.deepEqual(encodeHello(), helloWith(['PORTICO_LINK', '1', 'PORTICO_HEAD_SCHEMAS', SCHEMAS]));
    assert.equal(parseHelloVars(new UwsgiVars(['PORTICO_LINK', '1', 'PORTICO_HEAD_SCHEMAS', SCHEMAS, 'PORTICO_LINK_MAX', '7'])).maxLinkVersion, 7);
  });

  it('agreedLinkVersion is the newest both speak, never above 2', () => {
    const withMax = (max: number): Hello => ({ ...v1Hello(), maxLinkVersion: max });
    const table: Array<[number, number, number]> = [[1, 1, 1], [1, 2, 1], [2, 1, 1], [2, 2, 2], [3, 2, 2], [2, 3, 2], [3, 3, 2], [1, 3, 1]];
    for (const [gateway, worker, agreed] of table) {
      assert.equal(agreedLinkVersion(withMax(gateway), worker), agreed, `gateway ${gateway}, worker ${worker}`);
    }
  });

  it('v2 gateway + v2 worker: a version 2 ACK (u8 2, u16le link version, then the v1 fields)', () => {
    const ack = acceptHello(v2Hello(), undefined, 2);
    const v1ack = acceptHello(v1Hello());
    assert.equal(ack[0], FrameType.HelloAck);
    assert.equal(ack.readUInt32LE(1), ack.length - 5, 'framed with a version 1 header');
    const payload = ack.subarray(5);
    assert.equal(payload[0], 2);
    assert.equal(payload.readUInt16LE(1), LINK_VERSION_STREAMS);
    assert.deepEqual(payload.subarray(3), v1ack.subarray(6), 'schema version, fingerprint and JSON as in version 1');
    const parsed = parseHelloAck(payload);
    assert.equal(parsed.linkVersion, 2);
    assert.equal(parsed.version, headSchema(2)!.version);
    assert.equal(parsed.fingerprint, headSchema(2)!.fingerprint);
    assert.equal(parsed.schemaJson, headSchema(2)!.canonicalJson);
    const linked = completeLinkHandshake(payload);
    assert.equal(linked.linkVersion, 2);
    assert.equal(linked.reader, completeHandshake(v1ack.subarray(5)), 'the same cached reader as a v1 link');
  });

  it('v1 gateway + v2 worker: exactly the version 1 ACK bytes', () => {
    const ack = acceptHello(v1Hello(), undefined, 2);
    assert.deepEqual(ack, acceptHello(v1Hello()));
    assert.equal(ack[5], 0, 'first payload byte 0: the layout a version 1 gateway reads');
    assert.equal(ack.readUInt16LE(6), headSchema(2)!.version);
    assert.equal(parseHelloAck(ack.subarray(5)).linkVersion, 1);
    assert.equal(completeLinkHandshake(ack.subarray(5)).linkVersion, 1);
    // A gateway offering a max of 1 explicitly is a v1 gateway too.
    const explicit = helloOf(helloWith(['PORTICO_LINK', '1', 'PORTICO_HEAD_SCHEMAS', SCHEMAS, 'PORTICO_LINK_MAX', '1']));
    assert.deepEqual(acceptHello(explicit, undefined, 2), ack);
  });

  it('v2 gateway + v1 worker: the worker ignores PORTICO_LINK_MAX and answers version 1', () => {
    const ack = acceptHello(v2Hello());
    assert.deepEqual(ack, acceptHello(v1Hello()));
    assert.equal(parseHelloAck(ack.subarray(5)).linkVersion, 1);
    assert.equal(acceptHello(v2Hello(), undefined, 1)[5], 0);
    // A v1 writer schema on a v2 link is still a v2 ACK carrying schema v1.
    const old = parseHelloAck(acceptHello(v2Hello(), 1, 2).subarray(5));
    assert.deepEqual([old.linkVersion, old.version, old.fingerprint], [2, 1, headSchema(1)!.fingerprint]);
  });

  it('refuses a HELLO whose PORTICO_LINK_MAX is below PORTICO_LINK or not a number', () => {
    for (const max of ['0', 'x', '', '2.5', '-2', ' 2', '2 ', '0x2', '123456', '1e1']) {
      const buf = helloWith(['PORTICO_LINK', '1', 'PORTICO_HEAD_SCHEMAS', SCHEMAS, 'PORTICO_LINK_MAX', max]);
      expectCode(() => decodeHello(buf), 'PORTICO_ERR_NATIVE_HANDSHAKE', `PORTICO_LINK_MAX ${JSON.stringify(max)}`);
    }
    expectCode(() => parseHelloVars(new UwsgiVars(['PORTICO_LINK', '3', 'PORTICO_HEAD_SCHEMAS', SCHEMAS, 'PORTICO_LINK_MAX', '2'])),
      'PORTICO_ERR_NATIVE_HANDSHAKE');
    // PORTICO_LINK itself must still be 1, whatever the max.
    const link2 = helloOf(helloWith(['PORTICO_LINK', '2', 'PORTICO_HEAD_SCHEMAS', SCHEMAS, 'PORTICO_LINK_MAX', '2']));
    expectCode(() => acceptHello(link2, undefined, 2), 'PORTICO_ERR_NATIVE_HANDSHAKE');
  });

  it('refuses a malformed version 2 ACK: truncated, or an unknown link version', () => {
    const payload = acceptHello(v2Hello(), undefined, 2).subarray(5);
    for (let n = 1; n < 1 + 2 + 2 + 16; n++) {
      expectCode(() => parseHelloAck(payload.subarray(0, n)), 'PORTICO_ERR_NATIVE_HANDSHAKE', `truncated to ${n} bytes`);
      expectCode(() => completeLinkHandshake(payload.subarray(0, n)), 'PORTICO_ERR_NATIVE_HANDSHAKE', `truncated to ${n} bytes`);
    }
    for (const link of [0, 3, 9, 0xffff]) {
      const bad = Buffer.from(payload);
      bad.writeUInt16LE(link, 1);
      expectCode(() => parseHelloAck(bad), 'PORTICO_ERR_NATIVE_HANDSHAKE', `link version ${link}`);
      expectCode(() => completeLinkHandshake(bad), 'PORTICO_ERR_NATIVE_HANDSHAKE', `link version ${link}`);
    }
    // An unknown accept marker is malformed too.
    const marker = Buffer.from(payload);
    marker[0] = 3;
    expectCode(() => parseHelloAck(marker), 'PORTICO_ERR_NATIVE_HANDSHAKE');
  });
});

describe('native link v2: decoder in streams mode', () => {
  const vars = new UwsgiVars(['REQUEST_METHOD', 'POST', 'PATH_INFO', '/é']);
  const block = encodePacketHead({ vars }).subarray(4);
  const headPayload = encodeResponseHeadFrame(HEAD).subarray(5);

  const requestFrames: V2Frame[] = [
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
  const responseFrames: V2Frame[] = [
    [FrameType.ResponseHead, 1, headPayload],
    [FrameType.ResponseHead, 2, headPayload],
    [FrameType.ResponseBody, 1, Buffer.from('héllo')],
    [FrameType.RequestCredit, 2, u32(32768)],
    [FrameType.ResponseBody, 2, pattern(200, 3)],
    [FrameType.ResponseEnd, 1, Buffer.alloc(0)],
    [FrameType.ResponseAbort, 2, Buffer.from('boom')],
    [FrameType.GoAway, 0, u32(2)],
  ];
  const bytesOf = (frames: V2Frame[]): Buffer => Buffer.concat(frames.map(([t, s, p]) => v2(t, s, p)));

  for (const [name, frames, side] of [['request', requestFrames, 'worker'], ['response', responseFrames, 'gateway']] as const) {
    it(`${name} frames on interleaved streams decode the same split at every byte boundary (side ${side}, and no side)`, () => {
      const bytes = bytesOf(frames);
      for (const s of [side, undefined]) {
        assertSplitInvariant(bytes, (pieces) => decodeV2(pieces, { side: s }), { frames, errors: [] });
      }
    });
  }

  it('passes body pieces on as bytes arrive, each with its stream id, uncopied', () => {
    const seen: Array<[number, number, Buffer]> = [];
    const d = new FrameDecoder({ onFrame: (t, p, s) => void seen.push([t, s, p]), onError: assert.fail }, { side: 'gateway', streams: true });
    const frame = v2(FrameType.ResponseBody, 77, pattern(100));
    const first = frame.subarray(0, H + 30);
    d.push(first);
    assert.equal(seen.length, 1, 'the first 30 bytes are passed on before the rest arrives');
    assert.deepEqual(seen[0]!.slice(0, 2), [FrameType.ResponseBody, 77]);
    assert.deepEqual(seen[0]![2], pattern(100).subarray(0, 30));
    assert.equal(seen[0]![2].buffer, first.buffer, 'a subarray of the pushed chunk');
    d.push(frame.subarray(H + 30, H + 31));
    d.push(Buffer.concat([frame.subarray(H + 31), v2(FrameType.ResponseEnd, 77)]));
    assert.deepEqual(seen.map(([t, s, p]) => [t, s, p.length]), [[18, 77, 30], [18, 77, 1], [18, 77, 69], [19, 77, 0]]);
    assert.deepEqual(Buffer.concat(seen.slice(0, 3).map((x) => x[2])), pattern(100));
    assert.ok(d.idle);
  });

  it('refuses frames from the wrong direction on each side, and unknown types', () => {
    const codes = (frame: Buffer, side?: FrameSide): string[] => decodeV2([frame], { side }).errors.map((e) => e.code);
    const worker = [1, 2, 3, 4, 5];
    const gateway = [17, 18, 19, 20, 21, 22];
    for (const t of [...worker, ...gateway, 16, 0, 6, 15, 23, 255]) {
      const frame = v2(t, 1, t === 3 || t === 19 ? '' : 'abcd');
      const expectWorker = worker.includes(t) ? [] : ['PORTICO_ERR_NATIVE_BAD_FRAME'];
      const expectGateway = gateway.includes(t) ? [] : ['PORTICO_ERR_NATIVE_BAD_FRAME'];
      assert.deepEqual(codes(frame, 'worker'), expectWorker, `type ${t} at the worker`);
      assert.deepEqual(codes(frame, 'gateway'), expectGateway, `type ${t} at the gateway`);
    }
    // After the error nothing more is decoded.
    const r = decodeV2([Buffer.concat([v2(FrameType.ResponseHead, 1, 'x'), v2(FrameType.RequestHead, 1, 'x')])], { side: 'worker' });
    assert.deepEqual([r.frames.length, r.errors.length], [0, 1]);
  });

  it('refuses a non-empty END on either side and without a side', () => {
    for (const [type, side] of [[FrameType.RequestEnd, 'worker'], [FrameType.ResponseEnd, 'gateway'], [FrameType.RequestEnd, undefined], [FrameType.ResponseEnd, undefined]] as const) {
      const r = decodeV2([v2(type, 4, 'x')], { side });
      assert.deepEqual(r.errors.map((e) => e.code), ['PORTICO_ERR_NATIVE_BAD_FRAME'], `type ${type} side ${side}`);
      assert.deepEqual(r.frames, []);
    }
  });

  it('refuses an oversize frame from its header, before its payload arrives; the stream id is not the length', () => {
    for (const type of [FrameType.RequestBody, FrameType.RequestHead]) {
      const errors: string[] = [];
      const frames: number[] = [];
      const d = new FrameDecoder({ onFrame: (t) => void frames.push(t), onError: (e) => errors.push(e.code) }, { side: 'worker', streams: true, maxFrameSize: 1024 });
      const frame = v2(type, 1, pattern(1025));
      d.push(frame.subarray(0, H));
      assert.deepEqual(errors, ['PORTICO_ERR_NATIVE_FRAME_TOO_BIG'], 'raised on the header alone');
      d.push(frame.subarray(H));
      assert.deepEqual([errors.length, frames.length], [1, 0]);
    }
    assert.deepEqual(decodeV2([v2(FrameType.RequestHead, 0xffffffff, pattern(1024))], { side: 'worker', maxFrameSize: 1024 }).errors, []);
    const huge = v2(FrameType.ResponseBody, 1);
    huge.writeUInt32LE(MAX_FRAME_SIZE + 1, 5);
    assert.deepEqual(decodeV2([huge], { side: 'gateway' }).errors.map((e) => e.code), ['PORTICO_ERR_NATIVE_FRAME_TOO_BIG']);
  });

  it('a gateway switching to streams inside the HELLO_ACK callback reads the rest of the same chunk as version 2', () => {
    const ack = acceptHello(helloOf(encodeHello(undefined, 2)), undefined, 2);
    const bytes = Buffer.concat([ack, bytesOf(responseFrames)]);
    const run = (pieces: Buffer[], switchOnAck: boolean): { frames: V2Frame[]; errors: string[]; link: number } => {
      const frames: V2Frame[] = [];
      const errors: string[] = [];
      let link = 0;
      const d: FrameDecoder = new FrameDecoder({
        onFrame(type, payload, stream) {
          if (type === FrameType.HelloAck) {
            link = completeLinkHandshake(payload).linkVersion;
            if (switchOnAck && link === LINK_VERSION_STREAMS) d.useStreams();
            return;
          }
          const last = frames.at(-1);
          if (isBodyFrame(type) && last && last[0] === type && last[1] === stream) last[2] = Buffer.concat([last[2], payload]);
          else frames.push([type, stream, Buffer.from(payload)]);
        },
        onError: (e) => errors.push(e.code),
      }, { side: 'gateway' });
      for (const p of pieces) d.push(p);
      return { frames, errors, link };
    };
    assertSplitInvariant(bytes, (pieces) => run(pieces, true), { frames: responseFrames, errors: [], link: 2 });
    // Control: read as version 1, the same bytes are garbage.
    const v1 = run([bytes], false);
    assert.notDeepEqual(v1.frames, responseFrames);
    assert.deepEqual(v1.errors, ['PORTICO_ERR_NATIVE_BAD_FRAME']);
    // Once in streams mode, a second HELLO_ACK is out of place.
    const twice = run([Buffer.concat([ack, v2(FrameType.HelloAck, 0, ack.subarray(5))])], true);
    assert.deepEqual(twice.errors, ['PORTICO_ERR_NATIVE_BAD_FRAME']);
  });
});

describe('native link v2: StreamFrameWriter', () => {
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
    const expected: V2Frame[] = [
      [FrameType.RequestHead, 1, Buffer.from('head')],
      [FrameType.ResponseCredit, 3, u32(0xdeadbeef)],
      [FrameType.RequestBody, 1, Buffer.from('héllo')],
      [FrameType.RequestBody, 1, Buffer.from('!')],
      [FrameType.RequestEnd, 1, Buffer.alloc(0)],
      [FrameType.GoAway, 0, u32(5)],
    ];
    assert.deepEqual(walk(s.bytes()), expected, 'empty bodies write no frame');
    assert.deepEqual(decodeV2([s.bytes()]), {
      frames: [expected[0]!, expected[1]!, [FrameType.RequestBody, 1, Buffer.from('héllo!')], expected[4]!, expected[5]!], errors: [],
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
    assert.deepEqual(decodeV2([s.bytes()], { side: 'gateway' }), {
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
    assert.deepEqual(frames.map(([t, st, p]) => [t, st, p.length]), [
      [2, 1, 3000], [2, 1, 3000], [2, 1, 3000], [2, 1, 1000],
      [2, 2, 5000], [2, 2, 5000], [2, 2, 2000],
      [2, 3, 4000], [2, 3, 2000],
      [2, 4, 3000],
    ]);
    const join = (st: number): Buffer => Buffer.concat(frames.filter((f) => f[1] === st).map((f) => f[2]));
    assert.deepEqual(join(1), small);
    assert.deepEqual(join(2), large);
    assert.deepEqual(join(3).toString('utf8'), text);
    const uncopied = s.written.filter((c) => c.length === 5000);
    assert.equal(uncopied.length, 2);
    for (const c of uncopied) assert.equal(c.buffer, large.buffer, 'large pieces are subarrays of the body');
    assert.deepEqual(decodeV2([s.bytes()], { side: 'worker', maxFrameSize: 5000 }).errors, []);
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
    assert.deepEqual(walk(s.bytes()), [[FrameType.RequestAbort, 9, Buffer.from('bye')], [FrameType.RequestEnd, 10, Buffer.alloc(0)]]);
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
      const turns: V2Frame[][] = [];
      for (let turn = 0; turn < 3; turn++) {
        const frames: V2Frame[] = [
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

describe('native link v2: request and response heads', () => {
  const long = 'a'.repeat(60);
  const flat = [
    'REQUEST_METHOD', 'GET',
    'PATH_INFO', '/ünïcødé/路径',
    'QUERY_STRING', '',
    'HTTP_X_LONG', long,
    'HTTP_X_LONG_UTF8', 'é'.repeat(50),
    'HTTP_X_47', `${'b'.repeat(46)}é`,
    'HTTP_X_48', `${'c'.repeat(47)}é`,
    'HTTP_X_49', `${'d'.repeat(48)}é`,
    'HTTP_EMOJI', '😀 x',
    'HTTP_LONE_SURROGATE', 'a\ud800b',
    'CONTENT_LENGTH', '42',
    `HTTP_${'K'.repeat(60)}`, 'ascii',
  ];

  async function queued(fn: (w: StreamFrameWriter) => void): Promise<Buffer> {
    const s = fakeSink();
    fn(new StreamFrameWriter(s));
    await tick();
    return s.bytes();
  }

  function v1Block(vars: UwsgiVars): Buffer {
    const s = sink();
    writeRequestHead(s, vars);
    const bytes = s.bytes();
    assert.equal(bytes[0], FrameType.RequestHead);
    return bytes.subarray(5);
  }

  it("queueStreamRequest's REQUEST_HEAD payload is the v1 payload byte for byte, and decodes back", async () => {
    const vars = new UwsgiVars(flat);
    const bytes = await queued((w) => {
      queueStreamRequest(w, 7, vars, true);
      queueStreamRequest(w, 9, vars, false);
    });
    const frames = walk(bytes);
    assert.deepEqual(frames.map(([t, s]) => [t, s]), [[FrameType.RequestHead, 7], [FrameType.RequestEnd, 7], [FrameType.RequestHead, 9]]);
    assert.deepEqual(frames[0]![2], v1Block(vars));
    assert.deepEqual(frames[2]![2], v1Block(vars));
    assert.equal(frames[1]![2].length, 0);
    const head = decodeRequestHead(frames[0]![2]);
    assert.deepEqual(head.vars.flat, flat.map((v) => Buffer.from(v, 'utf8').toString('utf8')));
    assert.equal(head.contentLength, 42);
    assert.deepEqual(decodeV2([bytes], { side: 'worker' }).errors, []);
  });

  it('every string shape gives the v1 bytes: random vars of ASCII, Latin-1, CJK and astral characters', async () => {
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
      assert.deepEqual(frames[0]![2], v1Block(vars), `round ${round}: ${JSON.stringify(f)}`);
      // Names decode as latin1 (vars-decoder.ts), values as UTF-8.
      const expected = f.map((v, i) => Buffer.from(v, 'utf8').toString(i % 2 === 0 ? 'latin1' : 'utf8'));
      assert.deepEqual(decodeRequestHead(frames[0]![2]).vars.flat, expected);
    }
  });

  it('a vars block near the uwsgi limit takes the measuring path, and one past it throws', async () => {
    const vars = new UwsgiVars(['HTTP_BIG', 'x'.repeat(30_000), 'HTTP_BIG2', 'y'.repeat(30_000)]);
    const frames = walk(await queued((w) => queueStreamRequest(w, 1, vars, true)));
    assert.deepEqual(frames.map(([t, s, p]) => [t, s, p.length]), [[1, 1, v1Block(vars).length], [3, 1, 0]]);
    assert.deepEqual(frames[0]![2], v1Block(vars));
    const s = fakeSink();
    const w = new StreamFrameWriter(s);
    expectCode(() => queueStreamRequest(w, 1, new UwsgiVars(['HTTP_BIG', 'x'.repeat(70_000)]), true), 'PORTICO_ERR_VARS_TOO_BIG');
    expectCode(() => queueStreamRequest(w, 1, new UwsgiVars(['A', 'x'.repeat(40_000), 'B', 'y'.repeat(40_000)]), true), 'PORTICO_ERR_VARS_TOO_BIG');
    queueStreamRequest(w, 2, new UwsgiVars(['REQUEST_METHOD', 'GET']), true);
    await tick();
    assert.deepEqual(walk(s.bytes()).map(([t, st]) => [t, st]), [[1, 2], [3, 2]], 'a refused head leaves nothing behind');
  });

  it('queueStreamResponseHead round-trips through decodeResponseHead, same Avro bytes as v1', async () => {
    const ack = acceptHello(helloOf(encodeHello(undefined, 2)), undefined, 2).subarray(5);
    const { reader, linkVersion } = completeLinkHandshake(ack);
    assert.equal(linkVersion, 2);
    let size = 0;
    const bytes = await queued((w) => {
      size = queueStreamResponseHead(w, 11, HEAD);
      w.frame(FrameType.ResponseEnd, 11);
    });
    const frames = walk(bytes);
    assert.deepEqual(frames.map(([t, s]) => [t, s]), [[FrameType.ResponseHead, 11], [FrameType.ResponseEnd, 11]]);
    assert.equal(size, H + frames[0]![2].length, 'returns the frame size');
    assert.deepEqual(frames[0]![2], encodeResponseHeadFrame(HEAD).subarray(5));
    assert.deepEqual({ ...decodeResponseHead(frames[0]![2], reader) }, HEAD);
    // Written in schema v1, read by a v2 gateway through the resolver.
    const old = walk(await queued((w) => queueStreamResponseHead(w, 1, HEAD, 1)));
    assert.deepEqual(old[0]![2], encodeResponseHeadFrame(HEAD, 1).subarray(5));
    assert.deepEqual({ ...decodeResponseHead(old[0]![2], headReaderFor(headSchema(1)!)) }, { ...HEAD, workerPid: 0 });
    expectCode(() => queueStreamResponseHead(new StreamFrameWriter(fakeSink()), 1, { ...HEAD, headers: ['x'] }), 'PORTICO_ERR_INVALID_HEADER');
  });

  it('a head bigger than a slab (many headers) goes into a new slab, in order with the frames around it', async () => {
    const headers: string[] = [];
    for (let i = 0; i < 1500; i++) headers.push(`x-header-${i}`, `value ${i} ${'v'.repeat(i % 13)}`);
    const big: NativeResponseHead = { status: 200, reason: 'OK', headers, workerPid: 99 };
    const expectedPayload = encodeResponseHeadFrame(big).subarray(5);
    assert.ok(expectedPayload.length > 16 * 1024, `a head of ${expectedPayload.length} bytes`);
    const reader = completeHandshake(acceptHello(helloOf(encodeHello(undefined, 2)), undefined, 2).subarray(5));
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
      assert.deepEqual(decodeV2([s.bytes()], { side: 'gateway' }).errors, []);
    }
  });
});
