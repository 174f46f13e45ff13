import { connect, type Socket } from 'node:net';
import { PorticoError, type ErrorCode } from '../../common/errors.js';
import { connectOptions, formatSocketAddress, parseSocketAddress, type SocketAddress } from '../../protocol/socket-address.js';
import { WaitQueue } from './wait-queue.js';

export interface Upstream {
  readonly address: SocketAddress;
  /** How the gateway talks to it: uwsgi packets, or portico's keep-alive native link. */
  readonly link: 'uwsgi' | 'native';
  readonly label: string;
  /**
   * Requests holding one of its slots (picked, until the client's part is over): the load measure
   * for balancing and what --upstream-concurrency bounds.
   */
  outstanding: number;
  /** Taken out of the pool (its worker is being replaced or died): no new requests. */
  removed?: boolean;
  /**
   * Why its in-flight requests fail if the worker goes away (PORTICO_ERR_HARAKIRI: the master
   * killed it for a stuck request, so the client gets 504, not 502).
   */
  failCode?: ErrorCode;
  /**
   * Killed for --harakiri: Date.now() when the stuck request began. A request sent to it later and
   * never answered was not the stuck one, and an idempotent one goes to another worker.
   */
  stuckSince?: number;
  /** Its worker's event loop is blocked (the master's watchdog says): no new requests for now. */
  stalled?: boolean;
}

/**
 * `uwsgi://unix:PATH`, `uwsgi://HOST:PORT`, `unix:PATH` or a bare path: a uwsgi server, a portico
 * worker or real uWSGI, one request per connection. `portico://unix:PATH` or `portico://HOST:PORT`:
 * a portico worker over the native link (docs/protocol.md), many requests per connection.
 */
export function parseUpstream(spec: string): Upstream {
  const native = spec.startsWith('portico://');
  const rest = native ? spec.slice('portico://'.length) : spec.startsWith('uwsgi://') ? spec.slice('uwsgi://'.length) : spec;
  if (rest.length === 0) throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--upstream ${JSON.stringify(spec)} names no socket`);
  const address = parseSocketAddress(rest);
  return { address, link: native ? 'native' : 'uwsgi', label: formatSocketAddress(address), outstanding: 0 };
}

/** The upstream as --upstream names it (`uwsgi://unix:PATH`, `portico://HOST:PORT`), for lines that tell what to change. */
export function upstreamSpec(up: Upstream): string {
  return `${up.link === 'native' ? 'portico' : 'uwsgi'}://${up.address.kind === 'unix' ? `unix:${up.address.path}` : up.label}`;
}

/** A connected socket to `up`; rejects with PORTICO_ERR_UPSTREAM_CONNECT when nothing listens there. */
export function connectUpstream(up: Upstream): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(connectOptions(up.address));
    const onError = (err: Error): void => reject(new PorticoError('PORTICO_ERR_UPSTREAM_CONNECT', err.message));
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

/** What a request gets when it asks for an upstream slot. */
export type Admission =
  | { kind: 'upstream'; upstream: Upstream }
  /** Every upstream not excluded is at its limit and the wait queue is full. */
  | { kind: 'queue-full' }
  /** Every upstream was excluded (tried and unreachable). */
  | { kind: 'none-left' }
  /** The request gave up while it waited (its client went away). */
  | { kind: 'gone' };

/**
 * Least outstanding requests, ties broken round-robin so an idle pool spreads its first requests
 * instead of sending them all to the first worker. Each upstream takes at most `concurrency`
 * requests; later ones wait in a FIFO queue of at most `queueLimit` entries, like a listen
 * backlog, and past that are turned away (503) instead of piling up in the gateway's memory.
 */
export class UpstreamPool {
  readonly upstreams: Upstream[];
  readonly concurrency: number;
  readonly queue: WaitQueue<Upstream>;
  private next = 0;
  private stalledCount = 0;

  constructor(upstreams: Upstream[], concurrency = Infinity, queueLimit = Infinity) {
    if (!(concurrency >= 1)) throw new PorticoError('PORTICO_ERR_INVALID_OPTION', '--upstream-concurrency must be at least 1');
    this.upstreams = upstreams;
    this.concurrency = concurrency;
    this.queue = new WaitQueue(queueLimit);
  }

  /**
   * Takes a slot on the least busy upstream not in `exclude`, or says why not: 'busy' means all of
   * them are at the limit and the request may wait(). The slot must be given back with release().
   */
  admit(exclude: ReadonlySet<Upstream>): Admission | { kind: 'busy' } {
    // No upstream at all (under serve, while the only worker is being replaced): wait for one,
    // as a connection waits in a listen backlog, instead of failing at once.
    if (this.upstreams.length === 0) return this.queue.length >= this.queue.limit ? { kind: 'queue-full' } : { kind: 'busy' };
    if (this.upstreams.every((u) => exclude.has(u))) return { kind: 'none-left' };
    // A free slot with requests waiting is one none of them may use (release() hands every slot
    // to the first waiter that can take it), so taking it overtakes nobody.
    const up = this.pick(exclude);
    if (!up) return this.queue.length >= this.queue.limit ? { kind: 'queue-full' } : { kind: 'busy' };
    up.outstanding++;
    return { kind: 'upstream', upstream: up };
  }

  /**
   * Waits in the queue for a slot on an upstream not in `exclude` (after admit() said 'busy'):
   * resolves with it, already counted, or 'gone' once `cancel` (the client hanging up) aborts.
   */
  async wait(exclude: ReadonlySet<Upstream>, cancel: AbortSignal): Promise<Admission> {
    const waiting = this.queue.enter((u) => !exclude.has(u), cancel);
    if (!waiting) return { kind: 'queue-full' };
    const up = await waiting;
    return up ? { kind: 'upstream', upstream: up } : { kind: 'gone' };
  }

  /** Gives a slot back: straight to the first waiter that may use this upstream, if any. */
  release(up: Upstream): void {
    if (!up.removed && !(up.stalled && this.avoidStalled()) && this.queue.handOver(up)) return;
    up.outstanding--;
  }

  /** A new upstream (a worker that just started): waiting requests get its free slots first. */
  add(up: Upstream): void {
    this.upstreams.push(up);
    this.fill(up);
  }

  /**
   * Its worker's event loop is blocked (or answers again): while another upstream answers, it gets
   * no new requests, and its freed slots go to nobody. Every upstream stalled is treated as none:
   * the requests go where they went before, rather than wait for a loop that may be merely slow.
   */
  setStalled(up: Upstream, stalled: boolean): void {
    if (up.removed || up.stalled === stalled) return;
    up.stalled = stalled;
    this.stalledCount += stalled ? 1 : -1;
    if (!stalled) this.fill(up);
    else if (!this.avoidStalled()) for (const u of this.upstreams) this.fill(u);
  }

  /** Stalled upstreams are skipped: some are, and not all. */
  private avoidStalled(): boolean {
    return this.stalledCount > 0 && this.stalledCount < this.upstreams.length;
  }

  /** Hands `up`'s free slots to the requests waiting for one. */
  private fill(up: Upstream): void {
    while (up.outstanding < this.concurrency) {
      up.outstanding++;
      if (!this.queue.handOver(up)) {
        up.outstanding--;
        break;
      }
    }
  }

  /**
   * Takes an upstream out: no new requests; those in flight finish (or fail with `failCode`; after
   * a harakiri, see `stuckSince`).
   */
  remove(up: Upstream, failCode?: ErrorCode, stuckSince?: number): void {
    const i = this.upstreams.indexOf(up);
    if (i >= 0) this.upstreams.splice(i, 1);
    if (up.stalled && !up.removed) this.stalledCount--;
    up.removed = true;
    if (failCode) up.failCode = failCode;
    if (stuckSince !== undefined) up.stuckSince = stuckSince;
    if (this.next >= this.upstreams.length) this.next = 0;
    // The stalled ones left may be all there is: they take requests again.
    if (this.stalledCount > 0 && !this.avoidStalled()) for (const u of this.upstreams) this.fill(u);
  }

  /**
   * The least busy upstream under the limit and not excluded (no slot taken). Ties go round-robin;
   * `advance` false leaves the rotation where it is (a look that may not be followed).
   */
  pick(exclude?: ReadonlySet<Upstream>, advance = true): Upstream | undefined {
    const list = this.upstreams;
    const n = list.length;
    const avoid = this.stalledCount > 0 && this.stalledCount < n;
    let best: Upstream | undefined;
    for (let i = 0; i < n; i++) {
      const u = list[(this.next + i) % n]!;
      if (exclude?.has(u) || u.outstanding >= this.concurrency || (avoid && u.stalled === true)) continue;
      if (!best || u.outstanding < best.outstanding) best = u;
    }
    if (advance) this.advance();
    return best;
  }

  advance(): void {
    const n = this.upstreams.length;
    this.next = n > 0 ? (this.next + 1) % n : 0;
  }
}
