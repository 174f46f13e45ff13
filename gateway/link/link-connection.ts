import type { Socket } from 'node:net';
import { PorticoError, isPorticoError } from '../../common/errors.js';
import { guessNonHttpServer, httpServerRefusal, mayBeResponseStart, parseResponseHead, showBytes, type ResponseHead } from '../../protocol/uwsgi/response-head-parser.js';
import { clientHead, type ClientHead } from '../forwarding/forward-common.js';
import { FrameDecoder, FrameType, REQUEST_BATCH_FLUSH, StreamFrameWriter, completeHandshake, decodeResponseHead, encodeHello, type HeadReader } from '../../protocol/link/index.js';

/** A stream waiting for its response head. */
export interface AwaitingHead {
  headDeadline: number;
  headTimedOut(): void;
}

/** What the exchange using a stream hears from it. */
export interface LinkListener {
  /** A frame of this request: RESPONSE_*, and REQUEST_CREDIT for its body. */
  frame(type: FrameType, payload: Buffer): void;
  /** The connection failed or closed: it is gone, whatever the exchange was doing. */
  closed(err: PorticoError): void;
  /** The worker's GOAWAY says it never took this stream; it may go elsewhere. */
  refused?(): void;
}

/** Slots of a StreamTable's ring: more than the streams a link usually has in flight. */
const RING = 256;

/**
 * Entries by stream id, in a fixed ring of slots (id modulo its size) instead of a Map or Set. A
 * Map or Set that keeps being added to and deleted from is rehashed into a new table every so
 * often, and V8 links the old table to the new one (for iterators still on it): once a table
 * reaches the old space, each dead one keeps the next alive through every scavenge, and with it
 * the requests it held, until the next mark-compact. With many connections open the old space is
 * large and mark-compacts rare, so a link's streams kept about 2 MB of every scavenge's requests
 * alive (bench/README.md, Scale). Ids are given in order, so a slot is free again by the time its
 * next id comes, unless its stream is still open: that one moves to a plain object's elements
 * (whose dictionary is reallocated too, but nothing links the old to the new).
 */
export class StreamTable<V> {
  private readonly ids: number[] = new Array<number>(RING).fill(0);
  private readonly slots: (V | undefined)[] = new Array<V | undefined>(RING).fill(undefined);
  private overflow: Record<number, V> = {};
  private overflowed = 0;
  size = 0;

  get(id: number): V | undefined {
    const i = id % RING;
    if (this.ids[i] === id) return this.slots[i];
    return this.overflowed === 0 ? undefined : this.overflow[id];
  }

  /** Ids come in order: a larger one than any set before (or the same id again, replaced). */
  set(id: number, value: V): void {
    const i = id % RING;
    const old = this.slots[i];
    if (old !== undefined && this.ids[i] !== id) {
      this.overflow[this.ids[i]!] = old;
      this.overflowed++;
    } else if (old !== undefined) {
      this.size--;
    }
    this.ids[i] = id;
    this.slots[i] = value;
    this.size++;
  }

  delete(id: number): boolean {
    const i = id % RING;
    if (this.ids[i] === id) {
      if (this.slots[i] === undefined) return false;
      this.slots[i] = undefined;
    } else {
      if (this.overflowed === 0 || this.overflow[id] === undefined) return false;
      delete this.overflow[id];
      this.overflowed--;
    }
    this.size--;
    return true;
  }

  clear(): void {
    this.slots.fill(undefined);
    this.overflow = {};
    this.overflowed = 0;
    this.size = 0;
  }

  /** The ids and entries, by id. */
  list(): [number, V][] {
    const all: [number, V][] = Object.entries(this.overflow).map(([id, v]) => [Number(id), v]);
    for (let i = 0; i < RING; i++) {
      const v = this.slots[i];
      if (v !== undefined) all.push([this.ids[i]!, v]);
    }
    return all.sort((x, y) => x[0] - y[0]);
  }
}

/**
 * One handshaken native-link connection to a worker. It carries many requests at once, each on a
 * stream id (`openStream()`); frames go out in per-turn batches through `writer`.
 */
export class NativeLink {
  readonly socket: Socket;
  readonly decoder: FrameDecoder;
  reader: HeadReader | null = null;
  /** The open streams, and the batch their frames go out in. */
  readonly streams = new StreamTable<LinkListener>();
  readonly writer: StreamFrameWriter;
  private nextId = 1;
  private readonly awaiting = new StreamTable<AwaitingHead>();
  private sweep: NodeJS.Timeout | null = null;
  private lastHead: { bytes: Buffer; head: ClientHead } | null = null;
  /** The worker sent GOAWAY; no new streams. */
  draining = false;
  /** Requests taken on it. From the second on, the worker may have closed it while it sat idle. */
  uses = 0;
  private gone = false;
  private onGone: ((err: PorticoError) => void) | null = null;
  private handshakeDone: () => void = () => {};
  /** Set by the pool while the link is shared, so a worker closing it takes it off the list. */
  whenGone: (() => void) | null = null;
  /** Set by the pool for a shared link: called at GOAWAY. */
  whenDraining: (() => void) | null = null;
  /** The peer sent a byte: a close before any is how a server without the native link answers HELLO. */
  private answered = false;
  /** As --upstream names it, for the lines that say what to change. */
  private readonly spec: string;

  constructor(socket: Socket, spec = 'the upstream') {
    this.socket = socket;
    this.spec = spec;
    this.writer = new StreamFrameWriter(socket, REQUEST_BATCH_FLUSH);
    this.decoder = new FrameDecoder(
      {
        onFrame: (type, payload, stream) => {
          if (type === FrameType.HelloAck) return this.onAck(payload);
          if (type === FrameType.GoAway) return this.onGoAway(payload);
          this.streams.get(stream)?.frame(type, payload);
        },
        onError: (err) => this.lost(err),
      },
      { side: 'gateway' },
    );
    // The first chunk is looked at before the decoder sees it: a native worker's first byte is
    // HELLO_ACK's type, and anything else (an HTTP server's 400, a uwsgi server's response to the
    // HELLO taken as a request) says which server is really there. Then the decoder alone.
    const first = (chunk: Buffer): void => {
      socket.off('data', first);
      socket.on('data', (c: Buffer) => this.decoder.push(c));
      this.answered = true;
      if (chunk[0] !== FrameType.HelloAck) return this.lost(new PorticoError('PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL', this.notNative(chunk)));
      this.decoder.push(chunk);
    };
    socket.on('data', first);
    socket.on('end', () => {
      if (!this.answered) return this.lost(this.closedOnHello('it closed the connection'));
      // Between frames the decoder takes this quietly; the connection is unusable all the same.
      this.decoder.end();
      this.lost(new PorticoError('PORTICO_ERR_UPSTREAM_ABORTED', 'the worker closed the connection'));
    });
    socket.on('error', (err) => this.lost(new PorticoError('PORTICO_ERR_UPSTREAM_ABORTED', err.message)));
    socket.on('close', () => this.lost(new PorticoError('PORTICO_ERR_UPSTREAM_ABORTED', 'connection closed')));
  }

  /** Handshaken and still taking streams. */
  get open(): boolean {
    return !this.gone && !this.draining && this.reader !== null;
  }

  /** Used before: a close before any answer may be the worker's FIN not seen yet. */
  get reused(): boolean {
    return this.uses > 1;
  }

  /** A new stream id for `listener`, whose frames then go to it. */
  openStream(listener: LinkListener): number {
    const id = this.nextId++;
    this.streams.set(id, listener);
    return id;
  }

  /**
   * A RESPONSE_HEAD payload as the client gets it. A worker answers most requests with
   * the same head bytes (same app, same headers, same pid), so the last one is kept and an equal
   * payload costs a byte compare instead of an Avro decode and a header filter.
   */
  decodeHead(payload: Buffer): ClientHead {
    const last = this.lastHead;
    if (last !== null && payload.equals(last.bytes)) return last.head;
    const head = clientHead(decodeResponseHead(payload, this.reader!));
    if (payload.length <= 512) this.lastHead = { bytes: Buffer.from(payload), head };
    return head;
  }

  /**
   * --upstream-timeout for `stream`'s head. One sweep per link (every second, or a
   * quarter of the timeout when shorter) instead of a timer per request: a set and a delete cost a
   * request a fifth of a setTimeout and its clearTimeout, and the 504 comes at most a quarter late.
   */
  awaitHead(id: number, stream: AwaitingHead, timeoutMs: number): void {
    stream.headDeadline = Date.now() + timeoutMs;
    this.awaiting.set(id, stream);
    if (this.sweep === null) {
      this.sweep = setInterval(() => this.sweepHeads(), Math.max(1, Math.min(1000, timeoutMs / 4)));
      // A link waiting for nothing must not keep the gateway's process alive.
      this.sweep.unref();
    }
  }

  headDone(id: number): void {
    this.awaiting.delete(id);
  }

  private sweepHeads(): void {
    const now = Date.now();
    for (const [id, s] of this.awaiting.list()) {
      if (s.headDeadline > now) continue;
      this.awaiting.delete(id);
      s.headTimedOut();
    }
  }

  /** The stream is over for the gateway; later frames for it are dropped. */
  closeStream(id: number): void {
    this.streams.delete(id);
  }

  /** Sends HELLO and resolves once HELLO_ACK accepted it. */
  handshake(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      // Silence can be a worker whose event loop is blocked, or a server that waits for the end
      // of a line the HELLO never sends (an HTTP server): only the timeout tells, and says both.
      const timer = setTimeout(
        () =>
          this.lost(
            new PorticoError(
              'PORTICO_ERR_NATIVE_HANDSHAKE',
              `no HELLO_ACK within ${timeoutMs / 1000} s` +
                (this.answered
                  ? ''
                  : `, not a byte: a stuck worker, or a server that does not speak the native link (an HTTP server waits for the end of a request line, which the HELLO never sends); if so, ${this.fix()}`),
            ),
          ),
        timeoutMs,
      );
      this.onGone = (err) => {
        clearTimeout(timer);
        // Anything that ends the link before HELLO_ACK means the peer does not speak it: the
        // handshake failed, whatever the socket said. Closed without a byte is how uWSGI and every
        // uwsgi-only server answer modifier1 77.
        const ours = err.code === 'PORTICO_ERR_NATIVE_SCHEMA' || err.code === 'PORTICO_ERR_NATIVE_HANDSHAKE' || err.code === 'PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL';
        if (ours) reject(err);
        else reject(this.answered ? new PorticoError('PORTICO_ERR_NATIVE_HANDSHAKE', `closed before HELLO_ACK (${err.message})`) : this.closedOnHello(err.message));
      };
      this.handshakeDone = () => {
        clearTimeout(timer);
        this.onGone = null;
        resolve();
      };
      this.socket.write(encodeHello());
    });
  }

  /** The line for a first chunk that is no HELLO_ACK: what came, and what the peer then is. */
  private notNative(chunk: Buffer): string {
    if (!mayBeResponseStart(chunk)) return `${this.spec} answered the native link's HELLO with ${showBytes(chunk)}, not a HELLO_ACK: ${guessNonHttpServer(chunk)}? ${this.fix()}`;
    let head: ResponseHead | null = null;
    try {
      head = parseResponseHead(chunk);
    } catch {
      // Malformed or cut short: the status line below says enough.
    }
    const eol = chunk.indexOf('\r\n');
    const line = showBytes(eol === -1 ? chunk : chunk.subarray(0, eol), 64);
    const refusal = head === null ? null : httpServerRefusal(head);
    return refusal !== null
      ? `${this.spec} answered the native link's HELLO with ${refusal}, as an HTTP server refuses bytes it cannot read as a request: is it an HTTP server? ${this.fix()}`
      : `${this.spec} answered the native link's HELLO with an HTTP response (${line}), as a uwsgi server does that takes the HELLO for a request: is it a uwsgi-only server, or an HTTP server? ${this.fix()}`;
  }

  /** The HELLO got no byte back, only a close or a reset: what uWSGI and every uwsgi-only server do with modifier1 77. */
  private closedOnHello(how: string): PorticoError {
    return new PorticoError(
      'PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL',
      `${this.spec} answered the native link's HELLO without a byte (${how}), ` + `as uWSGI and other uwsgi-only servers do ("unavailable modifier requested: 77" in uWSGI's log): ${this.fix()}`,
    );
  }

  /** What to change when the peer is no native-link worker. */
  private fix(): string {
    const uwsgi = this.spec.startsWith('portico://') ? `--upstream uwsgi://${this.spec.slice('portico://'.length)}` : '--upstream uwsgi://ADDRESS';
    return `a uwsgi server (uWSGI, or a portico worker without the native link) takes ${uwsgi}; an HTTP server is no upstream (http:// is not supported): point --upstream at the app server's uwsgi socket`;
  }

  private onAck(payload: Buffer): void {
    try {
      this.reader = completeHandshake(payload);
    } catch (err) {
      if (!isPorticoError(err)) throw err;
      return this.lost(err);
    }
    this.handshakeDone();
  }

  /** GOAWAY: streams above its last id were never taken; they may be sent to another worker. */
  private onGoAway(payload: Buffer): void {
    if (payload.length !== 4) return this.lost(new PorticoError('PORTICO_ERR_NATIVE_BAD_FRAME', `GOAWAY of ${payload.length} bytes`));
    const last = payload.readUInt32LE(0);
    this.draining = true;
    this.whenDraining?.();
    for (const [id, listener] of this.streams.list()) {
      if (id <= last) continue;
      this.streams.delete(id);
      listener.refused?.();
    }
  }

  /** Ends the connection for good; the listeners (or the pending handshake) hear why once. */
  lost(err: PorticoError): void {
    if (this.gone) return;
    this.gone = true;
    if (this.sweep) clearInterval(this.sweep);
    this.awaiting.clear();
    this.decoder.stop();
    this.writer.flush();
    this.socket.destroy();
    this.onGone?.(err);
    this.onGone = null;
    const streams = this.streams.list();
    this.streams.clear();
    for (const [, l] of streams) l.closed(err);
    this.whenGone?.();
  }
}
