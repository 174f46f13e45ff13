// How long a uwsgi body is (protocol/uwsgi/content-length.ts): CONTENT_LENGTH alone decides, and
// anything but plain decimal digits means no body; without it, only a Transfer-Encoding whose last
// coding is chunked frames one (uWSGI's HTTP router).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseContentLength, transferCodingIsChunked } from '../../../../protocol/uwsgi/content-length.js';

describe('parseContentLength', () => {
  it('reads plain decimal digits', () => {
    assert.equal(parseContentLength('0'), 0);
    assert.equal(parseContentLength('42'), 42);
    assert.equal(parseContentLength('007'), 7);
    assert.equal(parseContentLength('999999999999999'), 999_999_999_999_999, '15 digits');
  });

  it('anything else is no body: absent, empty, signs, spaces, hex, 16 digits or more', () => {
    for (const v of [undefined, '', '-1', '+1', ' 1', '1 ', '0x10', '1e3', '1.5', '1000000000000000', '١']) {
      assert.equal(parseContentLength(v), 0, JSON.stringify(v));
    }
  });
});

describe('transferCodingIsChunked', () => {
  it('only when the last coding is chunked, in any case, with spaces or tabs around it', () => {
    for (const v of ['chunked', 'CHUNKED', 'gzip, chunked', 'gzip,chunked', 'gzip ,\tchunked ']) assert.equal(transferCodingIsChunked(v), true, v);
    for (const v of ['', 'gzip', 'chunked, gzip', 'chunkedx', 'x-chunked', 'chunked;q=1']) assert.equal(transferCodingIsChunked(v), false, v);
  });
});
