import { connect, type Socket } from 'node:net';
import { defaults } from '../common/defaults.js';
import { PorticoError, isPorticoError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { connectOptions } from '../protocol/socket-address.js';
import { FrameDecoder, FrameType, completeHandshake, encodeHello, type HeadReader } from '../protocol/native/index.js';
import type { Upstream } from './upstream-pool.js';

/** What the exchange using a connection hears from it. */
export interface LinkListener {
  frame(type: FrameType, payload: Buffer): void;
  /** The connection failed or closed: it is gone, whatever the exchange was doing. */
  closed(err: PorticoError): void;
}

/**
 * One handshaken native-link connection to a worker. Its decoder lives as long as the socket, so
 * the frame order is checked across requests; each request's frames go to the current listener.
 */
export class NativeLink {
  readonly socket: Socket;
  readonly decoder: FrameDecoder;
  reader: HeadReader | null = null;
  listener: LinkListener | null = null;
  /** Requests taken on it. From the second on, the worker may have closed it while it sat idle. */
  uses = 0;
  private gone = false;
  private onGone: ((err: PorticoError) => void) | null = null;
  private handshakeDone: () => void = () => {};
  /** Set by the pool while the link sits idle, so a worker closing it takes it off the list. */
  whenGone: (() => void) | null = null;

  constructor(socket: Socket) {
    this.socket = socket;
    this.decoder = new FrameDecoder({
      onFrame: (type, payload) => {
        if (type === FrameType.HelloAck) return this.onAck(payload);
        this.listener?.frame(type, payload);
      },
      onError: (err) => this.lost(err),
    }, { side: 'gateway' });
    socket.on('data', (chunk: Buffer) => this.decoder.push(chunk));
    socket.on('end', () => {
      // Between requests the decoder takes this quietly; the connection is unusable all the same.
      this.decoder.end();
      this.lost(new PorticoError('PORTICO_ERR_UPSTREAM_ABORTED', 'the worker closed the connection'));
    });
    socket.on('error', (err) => this.lost(new PorticoError('PORTICO_ERR_UPSTREAM_ABORTED', err.message)));
    socket.on('close', () => this.lost(new PorticoError('PORTICO_ERR_UPSTREAM_ABORTED', 'connection closed')));
  }

  get usable(): boolean {
    return !this.gone && this.reader !== null && this.decoder.idle;
  }

  /** Taken from the idle list: a close before any answer may be the worker's FIN not seen yet. */
  get reused(): boolean {
    return this.uses > 1;
  }

  /** Sends HELLO and resolves once HELLO_ACK accepted it. */
  handshake(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.lost(new PorticoError('PORTICO_ERR_NATIVE_HANDSHAKE', `no HELLO_ACK within ${timeoutMs / 1000} s`)), timeoutMs);
      this.onGone = (err) => {
        clearTimeout(timer);
        // Anything that ends the link before HELLO_ACK means the peer does not speak it (uWSGI
        // closes on modifier1 77): the handshake failed, whatever the socket said.
        const ours = err.code === 'PORTICO_ERR_NATIVE_SCHEMA' || err.code === 'PORTICO_ERR_NATIVE_HANDSHAKE';
        reject(ours ? err : new PorticoError('PORTICO_ERR_NATIVE_HANDSHAKE', `closed before HELLO_ACK (${err.message})`));
      };
      this.handshakeDone = () => {
        clearTimeout(timer);
        this.onGone = null;
        resolve();
      };
      this.socket.write(encodeHello());
    });
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

  /** Ends the connection for good; the listener (or the pending handshake) hears why once. */
  lost(err: PorticoError): void {
    if (this.gone) return;
    this.gone = true;
    this.decoder.stop();
    this.socket.destroy();
    const listener = this.listener;
    this.listener = null;
    this.onGone?.(err);
    this.onGone = null;
    listener?.closed(err);
    this.whenGone?.();
  }
}

/**
 * The idle, handshaken connections to one native-link upstream. A request takes one (or a new
 * one) and gives it back once both sides sent their terminal frames; anything else drops it.
 */
export class NativeLinkPool {
  readonly upstream: Upstream;
  private readonly idle: NativeLink[] = [];
  private readonly maxIdle: number;
  private readonly timeoutMs: number;
  private readonly backoffMs: number;
  /** Date.now() before which no connection is opened: the last handshake was refused. */
  private backoffUntil = 0;
  private backoffReason = '';
  /** Handshakes completed and requests served: the keep-alive ratio in the stop log line. */
  opened = 0;
  requests = 0;

  constructor(upstream: Upstream, timeoutMs: number, maxIdle = 64, backoffMs = defaults.nativeHandshakeBackoff * 1000) {
    this.upstream = upstream;
    this.timeoutMs = timeoutMs;
    this.maxIdle = maxIdle;
    this.backoffMs = backoffMs;
  }

  /**
   * An idle link (unless `fresh`), or a new one. Rejects with PORTICO_ERR_UPSTREAM_CONNECT when
   * nothing listens, PORTICO_ERR_NATIVE_HANDSHAKE (or _SCHEMA) when the peer will not speak the
   * native link, and then PORTICO_ERR_UPSTREAM_BACKOFF without connecting until the backoff ends.
   * `log` hears of each backoff once, when it starts.
   */
  async acquire(fresh = false, log?: Pick<Logger, 'warn'>): Promise<NativeLink> {
    for (let link = fresh ? undefined : this.idle.pop(); link; link = this.idle.pop()) {
      link.whenGone = null;
      if (link.usable) {
        link.uses++;
        this.requests++;
        return link;
      }
      link.lost(new PorticoError('PORTICO_ERR_UPSTREAM_ABORTED', 'stale idle link'));
    }
    const wait = this.backoffUntil - Date.now();
    if (wait > 0) throw new PorticoError('PORTICO_ERR_UPSTREAM_BACKOFF', `${this.backoffReason}; next try in ${Math.ceil(wait / 1000)} s`);
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(connectOptions(this.upstream.address));
      s.once('error', (err) => reject(new PorticoError('PORTICO_ERR_UPSTREAM_CONNECT', err.message)));
      s.once('connect', () => {
        s.removeAllListeners('error');
        s.setNoDelay(true);
        resolve(s);
      });
    });
    const link = new NativeLink(socket);
    try {
      await link.handshake(this.timeoutMs);
    } catch (err) {
      if (isPorticoError(err)) this.backOff(err, log);
      throw err;
    }
    link.uses++;
    this.opened++;
    this.requests++;
    return link;
  }

  /**
   * A peer that refused the handshake is not a worker restarting: it will refuse the next one too.
   * Requests racing to connect may each see a refusal; only the first starts (and logs) a backoff.
   */
  private backOff(err: PorticoError, log?: Pick<Logger, 'warn'>): void {
    const now = Date.now();
    if (now < this.backoffUntil) return;
    this.backoffUntil = now + this.backoffMs;
    this.backoffReason = err.message;
    log?.warn(`native link ${this.upstream.label}: ${err.code}: ${err.message}; skipping this upstream for ${this.backoffMs / 1000} s`);
  }

  /** Back to the idle list when it is between requests and there is room; else closed. */
  release(link: NativeLink): void {
    link.listener = null;
    if (!link.usable || this.idle.length >= this.maxIdle) {
      link.lost(new PorticoError('PORTICO_ERR_UPSTREAM_ABORTED', 'not reusable'));
      return;
    }
    link.whenGone = () => {
      const i = this.idle.indexOf(link);
      if (i >= 0) this.idle.splice(i, 1);
    };
    link.socket.resume();
    this.idle.push(link);
  }

  /** Closes the idle links (at stop): the workers see the end between requests, not an error. */
  close(): void {
    for (const link of this.idle.splice(0)) {
      link.whenGone = null;
      link.socket.end();
    }
  }
}
