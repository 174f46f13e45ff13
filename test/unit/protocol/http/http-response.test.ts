// protocol/http/http-response.ts and worker/exchange/response-head.ts linkHeaders: the response facts every
// writer and reader asks, each case a rule of RFC 9110 or of a link.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { declaredContentLength, isFinalStatus, isHopByHop, statusHasNoBody } from '../../../../protocol/http/http-response.js';
import { linkHeaders } from '../../../../worker/exchange/response-head.js';

describe('response facts', () => {
  it('a final status is 200-599', () => {
    for (const s of [200, 204, 304, 404, 599]) assert.ok(isFinalStatus(s), String(s));
    for (const s of [99, 100, 101, 103, 199, 600, 999, 2000, NaN, 200.5]) assert.ok(!isFinalStatus(s), String(s));
  });

  it('1xx, 204 and 304 have no body', () => {
    for (const s of [100, 101, 204, 304]) assert.ok(statusHasNoBody(s));
    for (const s of [200, 205, 404]) assert.ok(!statusHasNoBody(s));
  });

  it('the declared Content-Length: -1 for none, NaN for one that is not one number or two that disagree', () => {
    assert.equal(declaredContentLength(['Content-Type', 'text/plain']), -1);
    assert.equal(declaredContentLength(['content-length', '12']), 12);
    assert.equal(declaredContentLength(['CONTENT-LENGTH', ' 7 ']), 7);
    assert.equal(declaredContentLength(['Content-Length', '5', 'content-length', '5']), 5);
    for (const bad of [
      ['Content-Length', ''],
      ['Content-Length', '1e3'],
      ['Content-Length', '-1'],
      ['Content-Length', '0x10'],
      ['Content-Length', '1,2'],
      ['Content-Length', '1'.repeat(16)],
      ['Content-Length', '5', 'Content-Length', '6'],
    ]) {
      assert.ok(Number.isNaN(declaredContentLength(bad)), JSON.stringify(bad));
    }
  });

  it('hop-by-hop names, in any case', () => {
    for (const n of ['Connection', 'keep-alive', 'Transfer-Encoding', 'TE', 'Trailer', 'Upgrade', 'Proxy-Connection']) assert.ok(isHopByHop(n), n);
    for (const n of ['Content-Length', 'Set-Cookie', 'Tee', 'Trailers']) assert.ok(!isHopByHop(n), n);
  });

  it("linkHeaders drops an app's hop-by-hop headers and marks an event stream for nginx; the same array when nothing changes", () => {
    const plain = ['content-type', 'text/plain;charset=UTF-8', 'content-length', '5'];
    assert.equal(linkHeaders(plain), plain);
    assert.deepEqual(linkHeaders(['Content-Type', 'text/html', 'Transfer-Encoding', 'chunked', 'Connection', 'keep-alive', 'X-A', '1']), ['Content-Type', 'text/html', 'X-A', '1']);
    assert.deepEqual(linkHeaders(['Content-Type', 'text/event-stream; charset=utf-8']), ['Content-Type', 'text/event-stream; charset=utf-8', 'X-Accel-Buffering', 'no']);
    assert.deepEqual(linkHeaders(['content-type', ' Text/Event-Stream']), ['content-type', ' Text/Event-Stream', 'X-Accel-Buffering', 'no']);
    const own = ['Content-Type', 'text/event-stream', 'X-Accel-Buffering', 'yes'];
    assert.equal(linkHeaders(own), own);
  });
});
