import type { PorticoError } from '../../common/errors.js';
import { FrameType, REQUEST_WINDOW, RESPONSE_WINDOW, creditOf, type StreamFrameWriter } from '../../protocol/link/index.js';

/** Where the client's bytes come from: its request body, or an upgraded connection's socket. */
export interface FlowSource {
  pause(): unknown;
  resume(): unknown;
  isPaused(): boolean;
}

/** Where the worker's bytes go: the client's response, or an upgraded connection's socket. */
export interface FlowSink {
  write(chunk: Buffer): boolean;
  once(event: 'drain', listener: () => void): unknown;
}

/**
 * The flow control of one native-link stream on the gateway's side (docs/protocol.md), shared by a
 * forwarded request (link-forwarder.ts) and an upgrade's tunnel (upgrade-forwarder.ts). The
 * client's bytes go out as REQUEST_BODY until REQUEST_WINDOW of them wait for the worker's credit,
 * and their source pauses until REQUEST_CREDIT; the worker's bytes are credited back in halves of
 * RESPONSE_WINDOW as the client takes them (not while its socket is backed up), so a slow reader
 * on either side holds back only its own stream.
 */
export abstract class StreamFlow {
  protected readonly writer: StreamFrameWriter;
  protected id = 0;
  /** The client's bytes still go to the worker: no REQUEST_END or REQUEST_ABORT queued yet. */
  protected requestOpen = true;
  /** The stream is ours: no RESPONSE_END or RESPONSE_ABORT yet, and not cancelled. */
  protected responseOpen = true;
  /** When --upstream-timeout runs out for the head (the link's sweep reads it). */
  headDeadline = 0;
  /** Request bytes the worker still takes before it credits more. */
  private window = REQUEST_WINDOW;
  /** Response bytes taken and not credited back yet. */
  private uncredited = 0;
  private waitingForClient = false;

  constructor(writer: StreamFrameWriter) {
    this.writer = writer;
  }

  /** A chunk of the client's bytes as REQUEST_BODY; `from` pauses once the window is spent. */
  protected sendRequestBytes(chunk: Buffer, from: FlowSource): void {
    this.writer.body(FrameType.RequestBody, this.id, chunk);
    this.window -= chunk.length;
    if (this.window <= 0) from.pause();
  }

  /** REQUEST_CREDIT: the window grows, and `from` reads again if it had stopped for it. */
  protected requestCredited(payload: Buffer, from: FlowSource): void {
    this.window += creditOf(payload);
    if (this.window > 0 && this.requestOpen && from.isPaused()) from.resume();
  }

  /**
   * Response bytes taken from the worker, written to `to` (null: dropped, as a HEAD answer's body
   * is). They are credited back once `to` has taken them, half a window at a time.
   */
  protected passResponseBytes(payload: Buffer, to: FlowSink | null): void {
    this.uncredited += payload.length;
    if (to !== null && !to.write(payload)) {
      if (!this.waitingForClient) {
        this.waitingForClient = true;
        to.once('drain', this.onClientDrain);
      }
      return;
    }
    if (!this.waitingForClient && this.uncredited >= RESPONSE_WINDOW / 2) this.credit();
  }

  /** The link failed or closed (LinkListener): once, and only while the stream is still ours. */
  closed(err: PorticoError): void {
    if (!this.responseOpen) return;
    this.responseOpen = false;
    this.linkLost(err);
  }

  /** What the stream's user does when the link goes before the stream is over. */
  protected abstract linkLost(err: PorticoError): void;

  /** REQUEST_ABORT: the worker aborts the app's request (the caller then lets the stream go). */
  protected queueAbort(reason: string): void {
    this.writer.frame(FrameType.RequestAbort, this.id, Buffer.from(reason));
  }

  private credit(): void {
    if (!this.responseOpen || this.uncredited === 0) return;
    this.writer.u32(FrameType.ResponseCredit, this.id, this.uncredited);
    this.uncredited = 0;
  }

  private readonly onClientDrain = (): void => {
    this.waitingForClient = false;
    this.credit();
  };
}
