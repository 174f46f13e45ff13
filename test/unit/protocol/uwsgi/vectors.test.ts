import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { encodePacket } from '../../../../protocol/uwsgi/packet-encoder.js';
import { parseResponseHead } from '../../../../protocol/uwsgi/response-head-parser.js';
import { decodeChunks } from '../../../support/decode-all.js';
import { requestVectors, responseVectors } from '../../../../support/vectors.js';

const vectors = requestVectors();
const ROUTER_CHUNKED_BODY = Buffer.from('6;name=x\r\nhello \r\n5\r\nworld\r\n0\r\nX-Sum: 1\r\n\r\n');

describe('uwsgi packets captured from nginx and uWSGI', () => {
  it('has vectors to test', () => {
    assert.ok(vectors.length >= 10);
  });

  for (const v of vectors) {
    describe(v.name, () => {
      // uWSGI's router sends a chunked body after the packet only with --http-raw-body, and the
      // capture has none: this one goes on the wire with a small chunked body of its own.
      const chunked = v.name === 'uwsgi-router-post-chunked';
      const wire = chunked ? Buffer.concat([v.packet, ROUTER_CHUNKED_BODY]) : v.packet;
      const expectedBody = chunked ? Buffer.from('hello world') : v.body;

      it('decodes to the captured vars (wire order, duplicates kept) and body', () => {
        const d = decodeChunks([wire]);
        assert.equal(d.error, null);
        assert.ok(d.head);
        assert.equal(d.head.modifier1, v.modifier1);
        assert.equal(d.head.modifier2, v.modifier2);
        assert.equal(d.head.datasize, v.datasize);
        assert.deepEqual(d.head.vars.pairs(), v.vars);
        assert.ok(d.ended);
        assert.deepEqual(d.body, expectedBody);
      });

      it('encodes back to the same bytes', () => {
        assert.deepEqual(encodePacket({ modifier1: v.modifier1, modifier2: v.modifier2, vars: v.vars }, v.body), v.packet);
      });

      it('decodes the same when split at every byte boundary', () => {
        for (let at = 1; at < wire.length; at++) {
          const d = decodeChunks([wire.subarray(0, at), wire.subarray(at)]);
          assert.equal(d.error, null, `split at ${at}`);
          assert.deepEqual(d.head?.vars.pairs(), v.vars, `split at ${at}`);
          assert.deepEqual(d.body, expectedBody, `split at ${at}`);
          assert.ok(d.ended, `split at ${at}`);
        }
      });

      it('decodes the same when fed one byte at a time', () => {
        const bytes = [...wire].map((b) => Buffer.from([b]));
        const d = decodeChunks(bytes);
        assert.deepEqual(d.head?.vars.pairs(), v.vars);
        assert.deepEqual(d.body, expectedBody);
      });
    });
  }

  it('takes CONTENT_LENGTH as the only authority: a de-chunked body is not de-chunked again', () => {
    const v = vectors.find((x) => x.name === 'nginx-post-chunked-request-body')!;
    const d = decodeChunks([v.packet]);
    assert.equal(d.head?.vars.get('HTTP_TRANSFER_ENCODING'), 'chunked');
    assert.equal(d.head?.contentLength, v.body.length);
    assert.deepEqual(d.body, v.body);
  });

  it('reads a chunked body when CONTENT_LENGTH is absent and Transfer-Encoding ends in chunked (uWSGI router, --http-raw-body)', () => {
    const v = vectors.find((x) => x.name === 'uwsgi-router-post-chunked')!;
    const d = decodeChunks([v.packet, Buffer.from('5\r\nhello\r\n0\r\n\r\n'), Buffer.from('ignored after the last chunk')]);
    assert.equal(d.error, null);
    assert.equal(d.head?.contentLength, -1);
    assert.equal(d.body.toString(), 'hello');
    assert.ok(d.ended);
  });

  it('without its last chunk, a chunked body is PORTICO_ERR_TRUNCATED_BODY at EOF, not an empty body', () => {
    const v = vectors.find((x) => x.name === 'uwsgi-router-post-chunked')!;
    for (const rest of ['', '5\r\nhel', '5\r\nhello\r\n', '0\r\n\r']) {
      const d = decodeChunks([v.packet, Buffer.from(rest)]);
      assert.equal(d.error?.code, 'PORTICO_ERR_TRUNCATED_BODY', JSON.stringify(rest));
      assert.ok(!d.ended);
    }
  });

  it("no CONTENT_LENGTH at all (uWSGI's router): Transfer-Encoding decides; any CONTENT_LENGTH, even empty, frames alone", () => {
    const packet = (te: string, cl: string | null): Buffer =>
      encodePacket({ vars: [['REQUEST_METHOD', 'POST'], ['HTTP_TRANSFER_ENCODING', te], ...(cl === null ? [] : [['CONTENT_LENGTH', cl] as [string, string]])] });
    const body = Buffer.from('3\r\nabc\r\n0\r\n\r\n');
    for (const te of ['chunked', 'CHUNKED', 'gzip, chunked', 'gzip,chunked ']) {
      const d = decodeChunks([packet(te, null), body]);
      assert.equal(d.error, null, te);
      assert.equal(d.head?.contentLength, -1, te);
      assert.equal(d.body.toString(), 'abc', te);
    }
    // CONTENT_LENGTH present: it alone frames the body (security row 2.3); nginx sends it empty
    // for a request without a body, and that is no body whatever Transfer-Encoding says.
    const framed = decodeChunks([packet('chunked', '3'), body]);
    assert.equal(framed.head?.contentLength, 3);
    assert.equal(framed.body.toString(), '3\r\n');
    const empty = decodeChunks([packet('chunked', ''), body]);
    assert.equal(empty.head?.contentLength, 0);
    assert.equal(empty.body.length, 0);
    // An empty Transfer-Encoding is none: no body.
    const none = decodeChunks([packet('', null), body]);
    assert.equal(none.head?.contentLength, 0);
    assert.equal(none.body.length, 0);
  });

  it('a Transfer-Encoding that does not end in chunked, without CONTENT_LENGTH, is PORTICO_ERR_UNSUPPORTED_TRANSFER_ENCODING', () => {
    for (const te of ['gzip', 'chunked, gzip', 'chunkedx', 'identity']) {
      const d = decodeChunks([
        encodePacket({
          vars: [
            ['REQUEST_METHOD', 'POST'],
            ['HTTP_TRANSFER_ENCODING', te],
          ],
        }),
        Buffer.from('0\r\n\r\n'),
      ]);
      assert.equal(d.error?.code, 'PORTICO_ERR_UNSUPPORTED_TRANSFER_ENCODING', te);
      assert.equal(d.head, null, te);
    }
  });
});

describe('responses captured from real uWSGI', () => {
  for (const v of responseVectors()) {
    it(`${v.name}: the head parses strictly and the rest is the body`, () => {
      const head = parseResponseHead(v.response);
      assert.ok(head, 'head complete');
      assert.match(String(head.status), /^[1-5]\d\d$/);
      const text = v.response.toString('latin1');
      assert.equal(head.size, text.indexOf('\r\n\r\n') + 4);
    });
  }
});
