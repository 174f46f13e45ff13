// The stand-in socket a node app's ServerResponse writes to on the native link
// (worker/adapters/response-capture.ts): the HTTP/1.1 head Node serializes is parsed back (in as
// many writes as it comes) and handed to the Exchange with the body bytes that rode along; later
// bytes are body as they are; the link's backpressure is this socket's write() false and 'drain';
// a chunked response is refused; a destroyed capture takes nothing and says 'close'.
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { describe, it } from 'node:test';
import { isPorticoError } from '../../../../common/errors.js';
import { UwsgiVars } from '../../../../protocol/uwsgi/uwsgi-vars.js';
import { ResponseCapture } from '../../../../worker/adapters/response-capture.js';
import { Exchange } from '../../../../worker/exchange/exchange.js';
import type { ExchangeSocket } from '../../../../worker/exchange/exchange-socket.js';
import type { ResponseSink } from '../../../../worker/exchange/response-sink.js';
import { testWorkerContext } from '../../../support/unit-peers.js';

/** The link under the exchange: its backpressure is set by the test. */
class LinkStream extends EventEmitter implements ExchangeSocket {
  destroyed = false;
  writableNeedDrain = false;
  readonly writableLength = 0;
  readonly writableHighWaterMark = 16384;
  readonly readableHighWaterMark = 65536;
  pause(): this {
    return this;
  }
  resume(): this {
    return this;
  }
}

interface Recorded {
  heads: Array<{ status: number; reason: string | undefined; headers: readonly string[]; body: string | undefined }>;
  body: string[];
  /** What the sink's write() answers. */
  accept: boolean;
}

function setup(vars: string[] = []): { capture: ResponseCapture; ex: Exchange; link: LinkStream; seen: Recorded } {
  const seen: Recorded = { heads: [], body: [], accept: true };
  const sink: ResponseSink = {
    link: 'native',
    writeHead(_ex, status, reason, headers, body) {
      seen.heads.push({ status, reason, headers, body: body === undefined ? undefined : Buffer.from(body).toString('latin1') });
      return 0;
    },
    write(_ex, chunk) {
      seen.body.push(Buffer.from(chunk).toString('latin1'));
      return seen.accept;
    },
    end() {},
    cut() {},
    abort() {},
  };
  const ctx = testWorkerContext();
  const link = new LinkStream();
  const head = { modifier1: 0, modifier2: 0, datasize: 0, vars: new UwsgiVars(['REQUEST_METHOD', 'GET', 'REQUEST_URI', '/', ...vars]), contentLength: 0 };
  const ex = new Exchange(head, link, ctx, () => {}, sink);
  return { capture: new ResponseCapture(ex), ex, link, seen };
}

describe('ResponseCapture: the head Node wrote, parsed back', () => {
  it('a head and body in one write: the head with the body that rode along, hop-by-hop headers gone', () => {
    const { capture, seen } = setup();
    const ok = capture.write('HTTP/1.1 201 Made\r\nX-A: 1\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello');
    assert.equal(ok, true);
    assert.deepEqual(seen.heads, [{ status: 201, reason: 'Made', headers: ['X-A', '1', 'Content-Length', '5'], body: 'hello' }]);
    assert.equal(capture.headDone, true);
  });

  it('a head in pieces: nothing reaches the exchange until it is whole, and a reused buffer changes nothing', () => {
    const { capture, seen } = setup();
    const buf = Buffer.from('HTTP/1.1 200 OK\r\nX-Long: abc');
    assert.equal(capture.write(buf), true);
    buf.fill(0x7a); // the caller may reuse its buffer once write() returns
    assert.deepEqual(seen.heads, []);
    capture.write('def\r\n');
    capture.write('\r\n');
    assert.deepEqual(seen.heads, [{ status: 200, reason: 'OK', headers: ['X-Long', 'abcdef'], body: undefined }]);
  });

  it('after the head every byte is body as it is, even one that looks like a head', () => {
    const { capture, seen } = setup();
    capture.write('HTTP/1.1 200 OK\r\n\r\n');
    capture.write('HTTP/1.1 500 no\r\n\r\n');
    capture.write(Buffer.from([0, 1, 2]));
    assert.equal(seen.heads.length, 1);
    assert.deepEqual(seen.body, ['HTTP/1.1 500 no\r\n\r\n', '\x00\x01\x02']);
  });

  it("a reason left empty is the exchange's to fill", () => {
    const { capture, seen } = setup();
    capture.write('HTTP/1.1 404 \r\n\r\n');
    assert.equal(seen.heads[0]!.reason, undefined);
  });

  it('a chunked response is refused: PORTICO_ERR_INVALID_HEADER, the capture closes, the callback hears it', async () => {
    const { capture, seen } = setup();
    const closed = once(capture, 'close');
    let cbErr: unknown;
    const called = new Promise<void>((resolve) => {
      const ok = capture.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', (err) => {
        cbErr = err;
        resolve();
      });
      assert.equal(ok, false);
    });
    await called;
    await closed;
    assert.ok(isPorticoError(cbErr) && cbErr.code === 'PORTICO_ERR_INVALID_HEADER', String(cbErr));
    assert.equal(capture.error, cbErr);
    assert.equal(capture.destroyed, true);
    assert.equal(capture._hadError, true);
    assert.deepEqual(seen.heads, [], 'nothing of it reached the link');
  });

  it('where the socket asks for the remote address and TLS, the vars answer', () => {
    assert.deepEqual((({ capture }) => [capture.remoteAddress, capture.remotePort, capture.encrypted])(setup(['REMOTE_ADDR', '10.0.0.9', 'REMOTE_PORT', '4711', 'HTTPS', 'on'])), [
      '10.0.0.9',
      4711,
      true,
    ]);
    assert.deepEqual((({ capture }) => [capture.remoteAddress, capture.remotePort, capture.encrypted])(setup()), [undefined, undefined, false]);
  });
});

describe("ResponseCapture: the link's backpressure", () => {
  it("a body write the link cannot take returns false; one 'drain' follows the link's", () => {
    const { capture, link, seen } = setup();
    capture.write('HTTP/1.1 200 OK\r\n\r\n');
    seen.accept = false;
    assert.equal(capture.write('x'), false);
    assert.equal(capture.write('y'), false);
    assert.equal(capture.writableNeedDrain, true);
    let drains = 0;
    capture.on('drain', () => drains++);
    link.emit('drain');
    link.emit('drain');
    assert.equal(drains, 1, 'one wait, one drain, the listeners gone');
    assert.equal(capture.writableNeedDrain, false);
    assert.deepEqual(link.listenerCount('drain') + link.listenerCount('close'), 0);
  });

  it("a head whose body filled the link waits for the link's drain too", () => {
    const { capture, link } = setup();
    link.writableNeedDrain = true;
    assert.equal(capture.write('HTTP/1.1 200 OK\r\n\r\nbig body'), false);
    let drains = 0;
    capture.on('drain', () => drains++);
    link.emit('drain');
    assert.equal(drains, 1);
  });

  it("the link closing ends the wait, with no 'drain' to a capture that was destroyed", async () => {
    const { capture, link, seen } = setup();
    capture.write('HTTP/1.1 200 OK\r\n\r\n');
    seen.accept = false;
    capture.write('x');
    let drains = 0;
    capture.on('drain', () => drains++);
    capture.destroy();
    await once(capture, 'close');
    link.emit('close');
    assert.equal(drains, 0);
    assert.equal(capture.writableNeedDrain, false);
  });
});

describe('ResponseCapture: end, destroy and the rest of a socket', () => {
  it('end(data, cb) writes the data, calls back on a later tick, and leaves it unwritable', async () => {
    const { capture, seen } = setup();
    capture.write('HTTP/1.1 200 OK\r\n\r\n');
    let called = false;
    const done = new Promise<void>((resolve) => {
      capture.end('last', () => {
        called = true;
        resolve();
      });
    });
    assert.equal(called, false, 'not synchronously');
    await done;
    assert.deepEqual(seen.body, ['last']);
    assert.equal(capture.writable, false);
  });

  it('after destroy() nothing reaches the exchange; the write still calls back, without error', async () => {
    const { capture, seen } = setup();
    capture.destroy();
    const err = await new Promise<Error | null | undefined>((resolve) => capture.write('HTTP/1.1 200 OK\r\n\r\n', resolve));
    assert.equal(err, null);
    assert.deepEqual(seen.heads, []);
    assert.equal(capture.readable, false);
  });

  it("destroy(err) says close with hadError; release() closes without a 'close'", async () => {
    const a = setup().capture;
    a.destroy(new Error('gone'));
    const [hadError] = await once(a, 'close');
    assert.equal(hadError, true);
    assert.equal(a._hadError, true);
    const b = setup().capture;
    let closes = 0;
    b.on('close', () => closes++);
    b.release();
    b.destroy();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(closes, 0, 'the response finished: no close to it');
    assert.equal(b.destroyed, true);
  });

  it("cork() and uncork() count as Node's OutgoingMessage reads them; uncork never goes below 0", () => {
    const { capture } = setup();
    capture.cork();
    capture.cork();
    assert.equal(capture.writableCorked, 2);
    capture.uncork();
    capture.uncork();
    capture.uncork();
    assert.equal(capture.writableCorked, 0);
  });

  it('bytesWritten is what the exchange counted', () => {
    const { capture, ex } = setup();
    ex.headersBytes = 40;
    ex.bodyBytes = 2;
    assert.equal(capture.bytesWritten, 42);
  });
});
