// One request's stand-in socket on a native link (worker/link/stream-socket.ts): response bytes go
// out as RESPONSE_BODY frames within the window the gateway credits (write false past it, 'drain'
// after the credit, or after the link's own 'drain' when the link is backed up); request bytes are
// credited back in halves of REQUEST_WINDOW, never while the app pauses them; nothing after close.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameType, REQUEST_WINDOW, RESPONSE_WINDOW, STREAM_FRAME_HEADER_SIZE, StreamFrameWriter } from '../../../../protocol/link/index.js';
import { StreamSocket, type StreamOwner } from '../../../../worker/link/stream-socket.js';

interface Frame {
  type: number;
  stream: number;
  payload: Buffer;
}

/** A link as a stream sees it: a real frame writer into memory, and a congestion flag the test sets. */
class FakeLink implements StreamOwner {
  readonly writer: StreamFrameWriter;
  congested = false;
  readonly waiting = new Set<StreamSocket>();
  private readonly written: Buffer[] = [];

  constructor() {
    const written = this.written;
    this.writer = new StreamFrameWriter({
      write: (chunk) => (written.push(Buffer.from(chunk)), true),
      cork() {},
      uncork() {},
      writableLength: 0,
      destroyed: false,
    });
  }

  waitForLink(stream: StreamSocket): void {
    this.waiting.add(stream);
  }

  /** The link's socket drained: as the worker's link tells its waiting streams. */
  drain(): void {
    this.congested = false;
    for (const s of this.waiting) s.drained();
    this.waiting.clear();
  }

  /** The frames queued since the last call. */
  frames(): Frame[] {
    this.writer.flush();
    const bytes = Buffer.concat(this.written.splice(0));
    const out: Frame[] = [];
    for (let pos = 0; pos < bytes.length; ) {
      const length = bytes.readUInt32LE(pos + 5);
      const start = pos + STREAM_FRAME_HEADER_SIZE;
      out.push({ type: bytes[pos]!, stream: bytes.readUInt32LE(pos + 1), payload: bytes.subarray(start, start + length) });
      pos = start + length;
    }
    return out;
  }
}

function drains(s: StreamSocket): { count: number } {
  const seen = { count: 0 };
  s.on('drain', () => seen.count++);
  return seen;
}

describe("StreamSocket: response bytes within the gateway's window", () => {
  it('writes RESPONSE_BODY frames on its stream; strings count in UTF-8 bytes', () => {
    const link = new FakeLink();
    const s = new StreamSocket(link, 7);
    assert.equal(s.writeBody('héllo'), true);
    assert.equal(s.writeBody(Buffer.from('!')), true);
    const frames = link.frames();
    assert.deepEqual(
      frames.map((f) => [f.type, f.stream, f.payload.toString()]),
      [
        [FrameType.ResponseBody, 7, 'héllo'],
        [FrameType.ResponseBody, 7, '!'],
      ],
    );
    assert.equal(s.writableNeedDrain, false);
  });

  it("false once the window is spent, and 'drain' only after the credit reopens it", () => {
    const link = new FakeLink();
    const s = new StreamSocket(link, 1);
    const seen = drains(s);
    assert.equal(s.writeBody(Buffer.alloc(RESPONSE_WINDOW - 1)), true, 'one byte of window left');
    assert.equal(s.writeBody(Buffer.alloc(1)), false, 'the window is spent');
    assert.equal(s.writableNeedDrain, true);
    assert.equal(link.waiting.size, 0, 'no window: waiting for the link would not help');
    assert.equal(
      link.frames().reduce((n, f) => n + f.payload.length, 0),
      RESPONSE_WINDOW,
      'the bytes that spent it still went out',
    );
    s.credit(0);
    assert.equal(seen.count, 0, 'a credit that leaves no room: still waiting');
    s.credit(100);
    assert.equal(seen.count, 1);
    assert.equal(s.writableNeedDrain, false);
    assert.equal(s.writeBody(Buffer.alloc(99)), true);
    assert.equal(s.writeBody(Buffer.alloc(1)), false, 'exactly the credited bytes spend it again');
  });

  it('a write past the window is sent whole: the window goes negative and a credit must cover it', () => {
    const link = new FakeLink();
    const s = new StreamSocket(link, 1);
    const seen = drains(s);
    assert.equal(s.writeBody(Buffer.alloc(RESPONSE_WINDOW + 10)), false);
    s.credit(10);
    assert.equal(seen.count, 0, 'the window is back to 0, not open');
    s.credit(1);
    assert.equal(seen.count, 1);
  });

  it("a congested link: false with window left, and 'drain' when the link drains", () => {
    const link = new FakeLink();
    const s = new StreamSocket(link, 1);
    const seen = drains(s);
    link.congested = true;
    assert.equal(s.writeBody(Buffer.alloc(10)), false);
    assert.equal(s.writeBody(Buffer.alloc(10)), false);
    assert.deepEqual([...link.waiting], [s], 'waits for the link once');
    link.drain();
    assert.equal(seen.count, 1);
    s.drained();
    assert.equal(seen.count, 1, "one 'drain' per wait");
  });

  it('a credit that arrives while the link is congested waits for the link, not the credit', () => {
    const link = new FakeLink();
    const s = new StreamSocket(link, 1);
    const seen = drains(s);
    s.writeBody(Buffer.alloc(RESPONSE_WINDOW));
    link.congested = true;
    s.credit(RESPONSE_WINDOW);
    assert.equal(seen.count, 0);
    assert.deepEqual([...link.waiting], [s]);
    link.drain();
    assert.equal(seen.count, 1);
  });

  it("closed: 'close' once, no 'drain' after it, no frame of its own", () => {
    const link = new FakeLink();
    const s = new StreamSocket(link, 1);
    const seen = drains(s);
    let closes = 0;
    s.on('close', () => closes++);
    s.writeBody(Buffer.alloc(RESPONSE_WINDOW));
    s.close();
    s.close();
    assert.equal(closes, 1);
    assert.equal(s.destroyed, true);
    s.credit(RESPONSE_WINDOW);
    assert.equal(seen.count, 0, "whoever waited heard 'close' instead");
    link.frames();
    s.received(REQUEST_WINDOW);
    s.resume();
    assert.deepEqual(link.frames(), [], 'a stream that is over credits nothing');
  });
});

describe('StreamSocket: request bytes credited back', () => {
  it('credits once half a window came in, with the exact count', () => {
    const link = new FakeLink();
    const s = new StreamSocket(link, 3);
    s.received(REQUEST_WINDOW / 2 - 1);
    assert.deepEqual(link.frames(), [], 'below half a window: nothing yet');
    s.received(1);
    const frames = link.frames();
    assert.deepEqual(
      frames.map((f) => [f.type, f.stream, f.payload.readUInt32LE(0)]),
      [[FrameType.RequestCredit, 3, REQUEST_WINDOW / 2]],
    );
    s.received(10);
    assert.deepEqual(link.frames(), [], 'the count starts again after a credit');
  });

  it('no credit while the app pauses the body; resume() credits what came meanwhile', () => {
    const link = new FakeLink();
    const s = new StreamSocket(link, 5);
    assert.equal(s.pause(), s);
    s.received(REQUEST_WINDOW);
    assert.deepEqual(link.frames(), [], 'paused: the gateway must stop at its window');
    s.resume();
    assert.deepEqual(
      link.frames().map((f) => [f.type, f.payload.readUInt32LE(0)]),
      [[FrameType.RequestCredit, REQUEST_WINDOW]],
    );
    s.resume();
    assert.deepEqual(link.frames(), [], 'nothing uncredited: no empty credit');
  });
});
