// The request body an app has not asked for yet: held up to 64 KiB, then the socket pauses until
// the app reads, so an upload to an app that never reads cannot fill the worker's memory; after
// the response, what still arrives is dropped.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UwsgiVars } from '../../../../protocol/uwsgi/uwsgi-vars.js';
import { Exchange } from '../../../../worker/exchange/exchange.js';
import type { ExchangeSocket } from '../../../../worker/exchange/exchange-socket.js';
import type { ResponseSink } from '../../../../worker/exchange/response-sink.js';
import { PauseCounter, testWorkerContext } from '../../../support/unit-peers.js';

/** Records what the exchange asks of its connection; the socket's own flow is not under test. */
class FlowRecorder extends PauseCounter implements ExchangeSocket {
  readonly destroyed = false;
  readonly writableNeedDrain = false;
  readonly writableLength = 0;
  readonly writableHighWaterMark = 16384;
  readonly readableHighWaterMark = 65536;
}

/** What a response writes goes nowhere: only the flow calls above are checked. */
const nowhere: ResponseSink = {
  link: 'native',
  writeHead: () => 0,
  write: () => true,
  end() {},
  cut() {},
  abort() {},
};

function exchange(contentLength: number): { ex: Exchange; socket: FlowRecorder } {
  const socket = new FlowRecorder();
  const ctx = testWorkerContext();
  const vars = new UwsgiVars(['REQUEST_METHOD', 'POST', 'REQUEST_URI', '/up', 'CONTENT_LENGTH', String(contentLength)]);
  const ex = new Exchange({ modifier1: 0, modifier2: 0, datasize: 0, vars, contentLength }, socket, ctx, () => {}, nowhere);
  return { ex, socket };
}

describe('worker: the body an app has not read yet', () => {
  it('up to 64 KiB is held without pausing; past it the socket pauses until the app reads', async () => {
    const { ex, socket } = exchange(1 << 20);
    for (let i = 0; i < 16; i++) ex.pushBody(Buffer.alloc(4096, i));
    assert.equal(socket.paused, 0, '64 KiB held as is');
    ex.pushBody(Buffer.alloc(4096, 16));
    assert.equal(socket.paused, 1, 'one chunk more: paused');
    const body = ex.body();
    const first = await new Promise<Buffer>((resolve) => body.once('data', resolve));
    assert.equal(first[0], 0, 'the held chunks come first, in order');
    assert.ok(socket.resumed > 0, 'reading the body resumes the socket');
  });

  it('after the response, body bytes are dropped, never held', () => {
    const { ex, socket } = exchange(1 << 20);
    ex.end();
    for (let i = 0; i < 64; i++) ex.pushBody(Buffer.alloc(4096));
    assert.equal(socket.paused, 0, 'nothing held, so nothing to pause for');
  });
});
