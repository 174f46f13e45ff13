import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { PorticoError } from '../../../../common/errors.js';
import { ChunkedDecoder, MAX_CHUNK_LINE, MAX_TRAILERS, type ChunkedDecoderOptions } from '../../../../protocol/http/chunked-decoder.js';

interface Run {
  data: Buffer;
  ends: number;
  errors: PorticoError[];
}

/** Feeds the pieces to a fresh decoder, then EOF; collects what it reports. */
function run(pieces: Buffer[], options: ChunkedDecoderOptions = {}, eof = true): Run {
  const parts: Buffer[] = [];
  const out: Run = { data: Buffer.alloc(0), ends: 0, errors: [] };
  const d = new ChunkedDecoder(
    {
      onData: (c) => parts.push(Buffer.from(c)),
      onEnd: () => out.ends++,
      onError: (e) => out.errors.push(e),
    },
    options,
  );
  for (const p of pieces) d.push(p);
  if (eof) d.end();
  out.data = Buffer.concat(parts);
  return out;
}

/** Every way to cut the input in two, plus byte by byte. */
function splits(input: Buffer): Array<[string, Buffer[]]> {
  const out: Array<[string, Buffer[]]> = [
    ['whole', [input]],
    ['byte by byte', [...input].map((b) => Buffer.from([b]))],
  ];
  for (let at = 1; at < input.length; at++) out.push([`split at ${at}`, [input.subarray(0, at), input.subarray(at)]]);
  return out;
}

const VALID: Array<[string, string, string]> = [
  ['one chunk', '5\r\nhello\r\n0\r\n\r\n', 'hello'],
  ['empty body', '0\r\n\r\n', ''],
  ['several chunks, upper and lower case hex, leading zeros', '3\r\nabc\r\nA\r\n0123456789\r\n0a\r\nabcdefghij\r\n0000\r\n\r\n', 'abc0123456789abcdefghij'],
  ['extensions: token, quoted with escapes, bare names, BWS', '3;a=b\r\nabc\r\n2 ; x = "q\\"t;\\\\" ;y\t;z=1\r\nde\r\n0;last\r\n\r\n', 'abcde'],
  ['trailers', '4\r\nwxyz\r\n0\r\nX-Sum: abc\r\nX-Other:\tv v\r\n\r\n', 'wxyz'],
  ['CR and LF inside chunk data are data', '4\r\n\r\n\r\n\r\n0\r\n\r\n', '\r\n\r\n'],
];

const INVALID: Array<[string, string]> = [
  ['a bare LF after the size', '5\nhello\r\n0\r\n\r\n'],
  ['a bare LF after the data', '5\r\nhello\n0\r\n\r\n'],
  ['no CRLF after the data', '5\r\nhelloX\r\n0\r\n\r\n'],
  ['a CR without LF after the size', '5\rhello\r\n0\r\n\r\n'],
  ['a size that is not hex', 'g\r\nhello\r\n0\r\n\r\n'],
  ['an empty size', '\r\nhello\r\n0\r\n\r\n'],
  ['a signed size', '+5\r\nhello\r\n0\r\n\r\n'],
  ['a 0x prefix', '0x5\r\nhello\r\n0\r\n\r\n'],
  ['whitespace before the size', ' 5\r\nhello\r\n0\r\n\r\n'],
  ['whitespace after the size, before CRLF', '5 \r\nhello\r\n0\r\n\r\n'],
  ['an empty extension name', '5;\r\nhello\r\n0\r\n\r\n'],
  ['an extension with an empty value', '5;a=\r\nhello\r\n0\r\n\r\n'],
  ['an extension name with a space inside', '5;a b\r\nhello\r\n0\r\n\r\n'],
  ['text after a quoted extension value', '5;a="x"y\r\nhello\r\n0\r\n\r\n'],
  ['an unterminated quoted extension value', '5;a="x\r\nhello\r\n0\r\n\r\n'],
  ['a NUL in an extension', '5;a\u0000\r\nhello\r\n0\r\n\r\n'],
  ['a size of 2^53', '20000000000000\r\nhello\r\n0\r\n\r\n'],
  ['a size far over 2^53', 'ffffffffffffffffffffffff\r\nhello\r\n0\r\n\r\n'],
  // 2^64 - 1: llhttp takes it (and nginx stops at 2^63 - 1); a parser that wraps reads it as -1 or 0.
  ['a size of 2^64 - 1', 'ffffffffffffffff\r\nhello\r\n0\r\n\r\n'],
  // RFC 9110 §6.5.1: fields that frame the message are not allowed in the trailers (gunicorn refuses them too).
  ['Content-Length in the trailers', '5\r\nhello\r\n0\r\nContent-Length: 99\r\n\r\n'],
  ['Transfer-Encoding in the trailers', '5\r\nhello\r\n0\r\ntransfer-ENCODING: chunked\r\n\r\n'],
  ['a trailer without a colon', '0\r\nX-Sum\r\n\r\n'],
  ['a trailer name with a space', '0\r\nX Sum: 1\r\n\r\n'],
  ['a NUL in a trailer value', '0\r\nX-Sum: a\u0000b\r\n\r\n'],
  ['a bare LF after a trailer', '0\r\nX-Sum: 1\n\r\n'],
  ['a bare LF at the end', '0\r\n\n'],
  ['no CRLF at the end', '0\r\n\rX'],
  ['a folded trailer line', '0\r\nX-Sum: 1\r\n 2\r\n\r\n'],
];

describe('ChunkedDecoder', () => {
  for (const [name, input, expected] of VALID) {
    it(`decodes ${name} the same wherever it is split`, () => {
      const bytes = Buffer.from(input, 'latin1');
      for (const [how, pieces] of splits(bytes)) {
        const r = run([...pieces, Buffer.from('trailing bytes are ignored')]);
        assert.deepEqual(r.errors, [], how);
        assert.equal(r.data.toString('latin1'), expected, how);
        assert.equal(r.ends, 1, how);
      }
    });
  }

  for (const [name, input] of INVALID) {
    it(`refuses ${name} with PORTICO_ERR_BAD_CHUNKED_BODY wherever it is split`, () => {
      const bytes = Buffer.from(input, 'latin1');
      for (const [how, pieces] of splits(bytes)) {
        const r = run(pieces);
        assert.equal(r.errors.length, 1, how);
        assert.equal(r.errors[0]!.code, 'PORTICO_ERR_BAD_CHUNKED_BODY', `${how}: ${r.errors[0]!.message}`);
        assert.equal(r.ends, 0, how);
        // Whatever came out before the error is a prefix of the data the sender framed, never more.
        assert.ok('hello'.startsWith(r.data.toString('latin1')), `${how}: passed on ${JSON.stringify(r.data.toString('latin1'))}`);
      }
    });
  }

  it("returns where it stopped: just past the body, so the bytes after it (a pipelined request) are the caller's", () => {
    const body = '5\r\nhello\r\n0\r\nX: y\r\n\r\n';
    const wire = Buffer.from(`${body}GET / HTTP/1.1\r\n\r\n`);
    for (const [how, pieces] of splits(wire)) {
      const d = new ChunkedDecoder({ onData: () => {}, onEnd: () => {}, onError: () => {} });
      let offset = 0;
      let end = -1;
      for (const p of pieces) {
        const wasDone = d.done;
        const at = d.push(p);
        // Once done, it takes nothing more; before, all of a piece that does not end the body.
        if (wasDone) assert.equal(at, 0, how);
        else if (d.done) end = offset + at;
        else assert.equal(at, p.length, how);
        offset += p.length;
      }
      assert.equal(end, body.length, how);
    }
  });

  it('takes a size of 2^53 - 1 (the largest exact one) and passes its data through', () => {
    const r = run([Buffer.from('1fffffffffffff\r\nabc')], {}, false);
    assert.deepEqual(r.errors, []);
    assert.equal(r.data.toString(), 'abc');
  });

  it('refuses a chunk that would take the body over the limit before passing any of it on', () => {
    const r = run([Buffer.from('4\r\nabcd\r\n7\r\nefghijk\r\n0\r\n\r\n')], { limit: 10 });
    assert.equal(r.errors[0]?.code, 'PORTICO_ERR_BAD_CHUNKED_BODY');
    assert.match(r.errors[0]!.message, /limit of 10 bytes/);
    assert.equal(r.data.toString(), 'abcd');
    // Exactly at the limit is fine.
    assert.equal(run([Buffer.from('4\r\nabcd\r\n6\r\nefghij\r\n0\r\n\r\n')], { limit: 10 }).ends, 1);
  });

  it(`refuses a chunk-size line longer than ${MAX_CHUNK_LINE} bytes and a trailer section over ${MAX_TRAILERS}`, () => {
    const longExt = run([Buffer.from(`5;${'a'.repeat(MAX_CHUNK_LINE)}\r\nhello\r\n0\r\n\r\n`)]);
    assert.equal(longExt.errors[0]?.code, 'PORTICO_ERR_BAD_CHUNKED_BODY');
    const zeros = run([Buffer.from(`${'0'.repeat(MAX_CHUNK_LINE + 1)}5\r\nhello\r\n0\r\n\r\n`)]);
    assert.equal(zeros.errors[0]?.code, 'PORTICO_ERR_BAD_CHUNKED_BODY');
    const trailers = run([Buffer.from(`0\r\n${'X-A: b\r\n'.repeat(MAX_TRAILERS / 8 + 1)}\r\n`)]);
    assert.equal(trailers.errors[0]?.code, 'PORTICO_ERR_BAD_CHUNKED_BODY');
  });

  it('an input that ends before the last chunk is PORTICO_ERR_TRUNCATED_BODY, at every cut', () => {
    const whole = Buffer.from('5\r\nhello\r\n0\r\nX: y\r\n\r\n');
    for (let at = 0; at < whole.length; at++) {
      const r = run([whole.subarray(0, at)]);
      assert.equal(r.errors[0]?.code, 'PORTICO_ERR_TRUNCATED_BODY', `cut at ${at}`);
      assert.equal(r.ends, 0);
    }
  });

  it('passes large chunks through as slices, byte for byte', () => {
    const data = Buffer.alloc(300 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 9)) & 0xff;
    const sizes = [100 * 1024, 1, 150 * 1024 - 1, 50 * 1024];
    const framed: Buffer[] = [];
    let at = 0;
    for (const n of sizes) {
      framed.push(Buffer.from(`${n.toString(16)}\r\n`), data.subarray(at, at + n), Buffer.from('\r\n'));
      at += n;
    }
    framed.push(Buffer.from('0\r\n\r\n'));
    const wire = Buffer.concat(framed);
    // Cut in odd places, as a socket would.
    const pieces: Buffer[] = [];
    for (let p = 0; p < wire.length; p += 65_521) pieces.push(wire.subarray(p, p + 65_521));
    const r = run(pieces);
    assert.deepEqual(r.errors, []);
    assert.equal(r.ends, 1);
    assert.equal(createHash('sha256').update(r.data).digest('hex'), createHash('sha256').update(data).digest('hex'));
  });
});
