// The gateway's side of a native-link stream's flow control (gateway/forwarding/stream-flow.ts),
// shared by forwarded requests and upgrade tunnels: the client's bytes pause their source once
// REQUEST_WINDOW waits for the worker's credit and resume at REQUEST_CREDIT; the worker's bytes are
// credited back in halves of RESPONSE_WINDOW as the client takes them, never while its socket is
// backed up, and not once the stream is over.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PassThrough, Writable } from 'node:stream';
import { PorticoError } from '../../../../common/errors.js';
import { StreamFlow, type FlowSink, type FlowSource } from '../../../../gateway/forwarding/stream-flow.js';
import { FrameType, REQUEST_WINDOW, RESPONSE_WINDOW, STREAM_FRAME_HEADER_SIZE, StreamFrameWriter } from '../../../../protocol/link/index.js';

/** A stream user with the base class's steps made callable, writing its frames into memory. */
class Flow extends StreamFlow {
  private readonly written: Buffer[];
  readonly lost: string[] = [];

  constructor(id: number) {
    const written: Buffer[] = [];
    super(new StreamFrameWriter({ write: (c) => (written.push(Buffer.from(c)), true), cork() {}, uncork() {}, writableLength: 0, destroyed: false }));
    this.written = written;
    this.id = id;
  }

  protected linkLost(err: PorticoError): void {
    this.lost.push(err.code);
  }

  send(chunk: Buffer, from: FlowSource): void {
    this.sendRequestBytes(chunk, from);
  }

  credited(n: number, from: FlowSource): void {
    const payload = Buffer.alloc(4);
    payload.writeUInt32LE(n);
    this.requestCredited(payload, from);
  }

  pass(payload: Buffer, to: FlowSink | null): void {
    this.passResponseBytes(payload, to);
  }

  abort(reason: string): void {
    this.queueAbort(reason);
  }

  over(request: boolean, response: boolean): void {
    if (request) this.requestOpen = false;
    if (response) this.responseOpen = false;
  }

  /** [type, stream, payload as a number for a credit or as text] of the frames queued since the last call. */
  frames(): Array<[number, number, number | string]> {
    this.writer.flush();
    const bytes = Buffer.concat(this.written.splice(0));
    const out: Array<[number, number, number | string]> = [];
    for (let pos = 0; pos < bytes.length; ) {
      const type = bytes[pos]!;
      const length = bytes.readUInt32LE(pos + 5);
      const payload = bytes.subarray(pos + STREAM_FRAME_HEADER_SIZE, pos + STREAM_FRAME_HEADER_SIZE + length);
      out.push([type, bytes.readUInt32LE(pos + 1), type === FrameType.ResponseCredit ? payload.readUInt32LE(0) : payload.length > 64 ? `${payload.length} bytes` : payload.toString()]);
      pos += STREAM_FRAME_HEADER_SIZE + length;
    }
    return out;
  }
}

/** A client's socket that takes `room` bytes before write() says false; drain() empties it. */
class Client extends Writable {
  taken = 0;
  constructor(room: number) {
    super({ highWaterMark: room });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.taken += chunk.length;
    this.release = done;
  }
  release: (() => void) | null = null;
}

/** The client's socket finishes the write it is on. */
function takeOne(client: Client): void {
  const release = client.release!;
  client.release = null;
  release();
}

describe("StreamFlow: the client's bytes within the worker's window", () => {
  it('go out as REQUEST_BODY; the source pauses when the window is spent and resumes when credit reopens it', () => {
    const flow = new Flow(9);
    const source = new PassThrough();
    source.resume();
    flow.send(Buffer.alloc(REQUEST_WINDOW - 1), source);
    assert.equal(source.isPaused(), false);
    flow.send(Buffer.from('x'), source);
    assert.equal(source.isPaused(), true, 'the window is spent');
    assert.deepEqual(flow.frames(), [
      [FrameType.RequestBody, 9, `${REQUEST_WINDOW - 1} bytes`],
      [FrameType.RequestBody, 9, 'x'],
    ]);
    flow.credited(1, source);
    assert.equal(source.isPaused(), false);
  });

  it('a credit that leaves the window spent, or comes after the request ended, resumes nothing', () => {
    const flow = new Flow(1);
    const source = new PassThrough();
    flow.send(Buffer.alloc(REQUEST_WINDOW + 100), source);
    flow.credited(100, source);
    assert.equal(source.isPaused(), true, 'back to 0: still nothing to send');
    flow.over(true, false);
    flow.credited(REQUEST_WINDOW, source);
    assert.equal(source.isPaused(), true, "REQUEST_END went: the source is not this stream's any more");
  });
});

describe("StreamFlow: the worker's bytes credited as the client takes them", () => {
  it('credits at half of RESPONSE_WINDOW, with the exact count, and starts counting again', () => {
    const flow = new Flow(3);
    const client = new Client(RESPONSE_WINDOW * 4);
    flow.pass(Buffer.alloc(RESPONSE_WINDOW / 2 - 1), client);
    assert.deepEqual(flow.frames(), []);
    flow.pass(Buffer.alloc(1), client);
    assert.deepEqual(flow.frames(), [[FrameType.ResponseCredit, 3, RESPONSE_WINDOW / 2]]);
    flow.pass(Buffer.alloc(10), client);
    assert.deepEqual(flow.frames(), []);
  });

  it("nothing while the client's socket is backed up; all that it took once it drains", async () => {
    const flow = new Flow(5);
    const client = new Client(1024);
    flow.pass(Buffer.alloc(2048), client);
    flow.pass(Buffer.alloc(RESPONSE_WINDOW), client);
    assert.deepEqual(flow.frames(), [], 'backed up: no credit, so the worker stops at its window');
    const drained = new Promise((resolve) => client.once('drain', resolve));
    while (client.release !== null) takeOne(client);
    await drained;
    assert.deepEqual(flow.frames(), [[FrameType.ResponseCredit, 5, 2048 + RESPONSE_WINDOW]]);
  });

  it("while the client is backed up, even bytes that need no room wait for its 'drain' to be credited", async () => {
    const flow = new Flow(5);
    const client = new Client(1024);
    flow.pass(Buffer.alloc(2048), client);
    flow.pass(Buffer.alloc(100), client);
    // The first write is taken: the socket holds 100 bytes, under its mark, and 'drain' waits until it holds none.
    takeOne(client);
    const drained = new Promise((resolve) => client.once('drain', resolve));
    flow.pass(Buffer.alloc(RESPONSE_WINDOW), null);
    assert.deepEqual(flow.frames(), [], 'the drain has not come yet');
    takeOne(client);
    await drained;
    assert.deepEqual(flow.frames(), [[FrameType.ResponseCredit, 5, 2148 + RESPONSE_WINDOW]]);
  });

  it("bytes dropped (a HEAD answer's body) are credited as if taken", () => {
    const flow = new Flow(7);
    flow.pass(Buffer.alloc(RESPONSE_WINDOW / 2), null);
    assert.deepEqual(flow.frames(), [[FrameType.ResponseCredit, 7, RESPONSE_WINDOW / 2]]);
  });

  it('no credit for a stream that is over', () => {
    const flow = new Flow(7);
    flow.over(true, true);
    flow.pass(Buffer.alloc(RESPONSE_WINDOW), null);
    assert.deepEqual(flow.frames(), []);
  });

  it("the link closing is the user's to handle once, and not at all once the stream is over", () => {
    const flow = new Flow(1);
    flow.closed(new PorticoError('PORTICO_ERR_UPSTREAM_ABORTED'));
    flow.closed(new PorticoError('PORTICO_ERR_UPSTREAM_CONNECT'));
    assert.deepEqual(flow.lost, ['PORTICO_ERR_UPSTREAM_ABORTED']);
    flow.pass(Buffer.alloc(RESPONSE_WINDOW), null);
    assert.deepEqual(flow.frames(), [], 'no credit after it: the stream is over');
    const over = new Flow(2);
    over.over(false, true);
    over.closed(new PorticoError('PORTICO_ERR_UPSTREAM_ABORTED'));
    assert.deepEqual(over.lost, []);
  });

  it('REQUEST_ABORT carries its reason on the stream', () => {
    const flow = new Flow(11);
    flow.abort('client went away');
    assert.deepEqual(flow.frames(), [[FrameType.RequestAbort, 11, 'client went away']]);
  });
});
