import { defaults } from '../../config/defaults.js';
import { PorticoError, isPorticoError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { NativeLink } from './link-connection.js';
import { connectUpstream, upstreamSpec, type Upstream } from '../forwarding/upstream-pool.js';

export { NativeLink, type LinkListener } from './link-connection.js';

/**
 * The handshaken connections to one native-link upstream: a few shared links (`maxShared`; one
 * for a worker with a socket of its own, more when several workers share a socket, since each
 * link lands on one of them) and every request is a stream on the least busy one. A new link is
 * opened only while all are busy and there are fewer than `maxShared`, and a link opened past
 * that (or for a request sent again on a fresh one) serves its request and closes.
 */
export class NativeLinkPool {
  readonly upstream: Upstream;
  /** Links taking streams, least busy first when picked. */
  private readonly shared: NativeLink[] = [];
  private readonly maxShared: number;
  /** The link being opened while none is shared, for other requests to wait on. */
  private opening: Promise<NativeLink> | null = null;
  private readonly timeoutMs: number;
  private readonly backoffMs: number;
  /** Date.now() before which no connection is opened: the last handshake was refused. */
  private backoffUntil = 0;
  private backoffReason = '';
  /** Handshakes completed and requests served: the keep-alive ratio in the stop log line. */
  opened = 0;
  requests = 0;

  constructor(upstream: Upstream, timeoutMs: number, maxShared: number = defaults.upstreamLinks, backoffMs = defaults.nativeHandshakeBackoff * 1000) {
    this.upstream = upstream;
    this.timeoutMs = timeoutMs;
    this.maxShared = maxShared;
    this.backoffMs = backoffMs;
  }

  /**
   * A link to open a stream on without connecting: the least busy shared one, if it is
   * idle or no more may be opened. null: connect (acquire).
   */
  takeShared(busyToo = false): NativeLink | null {
    const shared = this.shared;
    let best: NativeLink | null = null;
    for (let i = 0; i < shared.length; i++) {
      const l = shared[i]!;
      if (l.open && (best === null || l.streams.size < best.streams.size)) best = l;
    }
    if (best === null || (!busyToo && best.streams.size > 0 && shared.length < this.maxShared)) return null;
    best.uses++;
    this.requests++;
    return best;
  }

  /**
   * A shared link (unless `fresh`), or a new one. Rejects with PORTICO_ERR_UPSTREAM_CONNECT when
   * nothing listens, PORTICO_ERR_NATIVE_HANDSHAKE (or _SCHEMA) when the peer will not speak the
   * native link, and then PORTICO_ERR_UPSTREAM_BACKOFF without connecting until the backoff ends.
   * `log` hears of each backoff once, when it starts.
   */
  async acquire(fresh = false, log?: Pick<Logger, 'warn'>): Promise<NativeLink> {
    if (!fresh) {
      const shared = this.takeShared();
      if (shared) return shared;
      // A link is being opened: use a busy one meanwhile, or wait for it, rather than open one
      // each (a burst at start, or a peer that refuses, is then one handshake).
      if (this.opening) {
        const busy = this.takeShared(true);
        if (busy) return busy;
        await this.opening;
        const again = this.takeShared(true);
        if (again) return again;
      }
    }
    const wait = this.backoffUntil - Date.now();
    if (wait > 0) throw new PorticoError('PORTICO_ERR_UPSTREAM_BACKOFF', `${this.backoffReason}; next try in ${Math.ceil(wait / 1000)} s`);
    const opening = this.open(log);
    if (!this.opening) {
      this.opening = opening;
      const done = (): void => {
        if (this.opening === opening) this.opening = null;
      };
      opening.then(done, done);
    }
    const link = await opening;
    link.uses++;
    this.opened++;
    this.requests++;
    if (this.shared.length < this.maxShared) this.share(link);
    return link;
  }

  /** Connects and handshakes; a refused handshake starts the backoff. */
  private async open(log?: Pick<Logger, 'warn'>): Promise<NativeLink> {
    const link = new NativeLink(await connectUpstream(this.upstream), upstreamSpec(this.upstream));
    try {
      await link.handshake(this.timeoutMs);
    } catch (err) {
      if (isPorticoError(err)) this.backOff(err, log);
      throw err;
    }
    return link;
  }

  private share(link: NativeLink): void {
    this.shared.push(link);
    const drop = (): void => {
      const i = this.shared.indexOf(link);
      if (i >= 0) this.shared.splice(i, 1);
    };
    link.whenGone = drop;
    link.whenDraining = () => {
      drop();
      if (link.streams.size === 0) link.socket.end();
    };
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

  /** A stream of `link` is over: a link that is not shared (opened past maxShared, draining, or after close()) ends with its last stream. */
  release(link: NativeLink): void {
    if (link.streams.size === 0 && !this.shared.includes(link)) {
      link.writer.flush();
      link.socket.end();
    }
  }

  /** Stops sharing the links (at stop): idle ones close now, busy ones with their last stream; the workers see the end between requests, not an error. */
  close(): void {
    for (const link of this.shared.splice(0)) {
      link.whenGone = null;
      this.release(link);
    }
  }
}
