import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { encodePacket } from '../protocol/packet-encoder.js';
import { parseResponseHead } from '../protocol/response-head-parser.js';
import { decodeChunks } from './support/decode-all.js';
import { requestVectors, responseVectors } from './support/vectors.js';

const vectors = requestVectors();

describe('uwsgi packets captured from nginx and uWSGI', () => {
  it('has vectors to test', () => {
    assert.ok(vectors.length >= 10);
  });

  for (const v of vectors) {
    describe(v.name, () => {
      const expectedBody = v.name === 'uwsgi-router-post-chunked' ? Buffer.alloc(0) : v.body;

      it('decodes to the captured vars (wire order, duplicates kept) and body', () => {
        const d = decodeChunks([v.packet]);
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
        for (let at = 1; at < v.packet.length; at++) {
          const d = decodeChunks([v.packet.subarray(0, at), v.packet.subarray(at)]);
          assert.equal(d.error, null, `split at ${at}`);
          assert.deepEqual(d.head?.vars.pairs(), v.vars, `split at ${at}`);
          assert.deepEqual(d.body, expectedBody, `split at ${at}`);
          assert.ok(d.ended, `split at ${at}`);
        }
      });

      it('decodes the same when fed one byte at a time', () => {
        const bytes = [...v.packet].map((b) => Buffer.from([b]));
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

  it('reads no body when CONTENT_LENGTH is absent, even with Transfer-Encoding: chunked (uWSGI router)', () => {
    const v = vectors.find((x) => x.name === 'uwsgi-router-post-chunked')!;
    const d = decodeChunks([v.packet, Buffer.from('5\r\nhello\r\n0\r\n\r\n')]);
    assert.equal(d.head?.contentLength, 0);
    assert.equal(d.body.length, 0);
    assert.ok(d.ended);
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
