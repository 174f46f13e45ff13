import { EventEmitter } from 'node:events';
import { FrameType, REQUEST_WINDOW, RESPONSE_WINDOW, type StreamFrameWriter } from '../../protocol/link/index.js';
import type { ExchangeSocket } from '../exchange/exchange-socket.js';

/** What a stream needs of its link. */
export interface StreamOwner {
  readonly writer: StreamFrameWriter;
  /** The link's socket holds more than it should: every stream waits for its 'drain'. */
  readonly congested: boolean;
  /** Calls `stream.drained()` once the link's socket drains. */
  waitForLink(stream: StreamSocket): void;
}

/**
 * One request of a native link, standing in for the socket an Exchange reads and
 * writes: response body bytes go out as RESPONSE_BODY frames on the link, within the window the
 * gateway credits (write() returns false past it, 'drain' follows the credit), and request body
 * bytes are credited back to the gateway only while the app is not pausing them.
 */
export class StreamSocket extends EventEmitter implements ExchangeSocket {
  readonly id: number;
  private readonly owner: StreamOwner;
  destroyed = false;
  /** Response bytes the gateway still takes before it must credit more. */
  private window = RESPONSE_WINDOW;
  private waiting = false;
  /** Request body bytes received and not credited back yet. */
  private uncredited = 0;
  private paused = false;
  readonly writableLength = 0;
  readonly writableHighWaterMark = 16 * 1024;
  readonly readableHighWaterMark = REQUEST_WINDOW;

  constructor(owner: StreamOwner, id: number) {
    super();
    this.owner = owner;
    this.id = id;
  }

  /** The link's batch, where this stream's frames go. */
  get writer(): StreamFrameWriter {
    return this.owner.writer;
  }

  get writableNeedDrain(): boolean {
    return this.waiting;
  }

  /** A RESPONSE_BODY frame (or several); false once the window is spent or the link backs up. */
  writeBody(chunk: Uint8Array | string): boolean {
    const n = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    this.owner.writer.body(FrameType.ResponseBody, this.id, chunk);
    this.window -= n;
    if (this.window > 0 && !this.owner.congested) return true;
    if (!this.waiting) {
      this.waiting = true;
      if (this.window > 0) this.owner.waitForLink(this);
    }
    return false;
  }

  /** RESPONSE_CREDIT from the gateway. */
  credit(n: number): void {
    this.window += n;
    if (this.waiting && this.window > 0) {
      if (this.owner.congested) this.owner.waitForLink(this);
      else this.drained();
    }
  }

  /** The window is open and the link has room: the app may write again. */
  drained(): void {
    if (!this.waiting || this.destroyed) return;
    this.waiting = false;
    this.emit('drain');
  }

  /** Counts request body bytes in; credits them back at half a window unless paused. */
  received(n: number): void {
    this.uncredited += n;
    if (!this.paused && this.uncredited >= REQUEST_WINDOW / 2) this.creditRequest();
  }

  pause(): this {
    this.paused = true;
    return this;
  }

  resume(): this {
    this.paused = false;
    if (this.uncredited > 0) this.creditRequest();
    return this;
  }

  /** The stream is over: anyone waiting for 'drain' hears 'close' instead. */
  close(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }

  private creditRequest(): void {
    if (this.destroyed) return;
    this.owner.writer.u32(FrameType.RequestCredit, this.id, this.uncredited);
    this.uncredited = 0;
  }
}
