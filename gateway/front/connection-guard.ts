import type { Socket } from 'node:net';
import type { Logger } from '../../common/logger.js';
import type { HttpLimits } from './http-limits.js';

/** Where a lean connection stands for the guard: a request in progress, or waiting for one. */
export const enum Waiting {
  /** A request is being read or answered (or the connection is ending): never timed out or evicted here. */
  No = 0,
  /** Nothing received since accept: closed after --headers-timeout. */
  Silent = 1,
  /** Between requests (keep-alive): closed after --keepalive-timeout. */
  Idle = 2,
  /** A head began and is not whole yet: answered 408 --headers-timeout after it began (a first head: after the accept). */
  Head = 3,
}

/** What the guard needs of a connection on the lean front. */
export interface GuardedConnection {
  readonly socket: Socket;
  waiting: Waiting;
  /** When it started waiting (Date.now()). */
  waitingSince: number;
  /** Its neighbours on the wait list it is on (the guard's: null at either end, or on none). */
  waitPrev: GuardedConnection | null;
  waitNext: GuardedConnection | null;
}

/**
 * A wait list: linked through the connections themselves, in the order they joined. Not a Set:
 * every request takes its connection off a list and puts it back, and V8's Set rehashes its whole
 * table when an entry is deleted and added again, often (about 1 µs per request with 10,000 idle
 * connections in the set, and a new table of that size for the scavenger each time).
 */
class WaitList<C extends GuardedConnection> {
  first: C | null = null;
  private last: C | null = null;

  push(conn: C): void {
    conn.waitPrev = this.last;
    conn.waitNext = null;
    if (this.last === null) this.first = conn;
    else this.last.waitNext = conn;
    this.last = conn;
  }

  delete(conn: C): void {
    const prev = conn.waitPrev as C | null;
    const next = conn.waitNext as C | null;
    if (prev === null) this.first = next;
    else prev.waitNext = next;
    if (next === null) this.last = prev;
    else next.waitPrev = prev;
    conn.waitPrev = null;
    conn.waitNext = null;
  }
}

/**
 * The gateway's client connections, against slowloris and connection floods. A connection that
 * sends nothing within --headers-timeout, or stays idle between requests past --keepalive-timeout,
 * is closed. One whose head is still incomplete --headers-timeout after it began gets the 408
 * node:http would give it (a first head counts from the accept: node:http counts from its first
 * byte, which gives a client that waited before sending twice as long). At --max-connections the connection waiting longest gives way to a new client, which is
 * refused only when every open connection has a request in progress (nginx reuses idle
 * connections the same way when worker_connections run out).
 *
 * One sweep a fraction of the shortest timeout apart serves every connection: a request costs two
 * list operations and a Date.now() (no timer per connection or per request, no timer refreshed on
 * every read and write). The wait lists are in the order connections joined them, so each is
 * ordered by waiting time: a sweep stops at the first connection not yet due, and the longest waiting one is
 * the first of a list. The lean front's connections are tracked here; once handed to node:http, a
 * connection is timed out by node:http (headersTimeout, keepAliveTimeout) and only counted here.
 */
export class ConnectionGuard<C extends GuardedConnection> {
  /** Every connection the lean front still owns. */
  readonly lean = new Set<C>();
  private readonly silent = new WaitList<C>();
  private readonly idle = new WaitList<C>();
  private readonly arriving = new WaitList<C>();
  /**
   * The connections node:http owns, with the requests it has read on each and not yet answered
   * (from its 'request' to the response's 'close'): counted from public events, since what
   * node:http knows of its parser's state is private and differs between Node versions.
   */
  private readonly handedOff = new Map<Socket, number>();
  private readonly onHeadTimeout: (conn: C) => void;
  private readonly headersTimeoutMs: number;
  private readonly keepAliveTimeoutMs: number;
  private readonly maxConnections: number;
  private readonly timer: NodeJS.Timeout;
  private readonly refusals: CountedLog;
  private readonly evictions: CountedLog;
  private readonly silentCloses: CountedLog;

  /** Connections the gateway accepted that live in another process now (upgrades handed to a worker). */
  private readonly elsewhere: () => number;

  constructor(limits: HttpLimits, log: Logger, onHeadTimeout: (conn: C) => void, elsewhere: () => number = () => 0) {
    this.onHeadTimeout = onHeadTimeout;
    this.elsewhere = elsewhere;
    // As node:http's own headersTimeout (see serverLimitOptions in http-limits.ts): a head never gets longer than the whole request.
    this.headersTimeoutMs = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
    this.keepAliveTimeoutMs = limits.keepAliveTimeoutMs;
    this.maxConnections = limits.maxConnections;
    this.refusals = refusalLog(log, limits.maxConnections);
    this.evictions = new CountedLog((n) => log.warn(`gateway: ${n} idle connection(s) closed to make room for new clients (--max-connections ${limits.maxConnections} open)`));
    // nginx logs these at info ("client timed out ... while waiting for request"): a client that
    // opened a connection it did not use, or a slowloris one, is no error of the server's.
    this.silentCloses = new CountedLog((n) => log.info(`gateway: ${n} connection(s) closed: nothing sent within --headers-timeout ${this.headersTimeoutMs / 1000} s`));
    // A connection is closed at most a quarter of the timeout (and at most 1 s) after its timeout passes.
    const period = Math.min(1000, Math.max(50, Math.floor(Math.min(this.headersTimeoutMs, this.keepAliveTimeoutMs) / 4)));
    this.timer = setInterval(() => this.sweep(Date.now()), period);
    this.timer.unref();
  }

  get open(): number {
    return this.lean.size + this.handedOff.size + this.elsewhere();
  }

  /**
   * A new client: true when it may be served. At the cap, the connection waiting longest is closed
   * to make room; when none is waiting, the new one is closed and false returned.
   */
  admit(socket: Socket): boolean {
    if (this.open < this.maxConnections) return true;
    if (this.evictOne()) {
      this.evictions.note();
      return true;
    }
    this.refusals.note(socket.remoteAddress);
    socket.destroy();
    return false;
  }

  /** A lean connection just accepted: silent until its first bytes. */
  add(conn: C): void {
    this.lean.add(conn);
    conn.waiting = Waiting.Silent;
    conn.waitingSince = Date.now();
    this.silent.push(conn);
  }

  /** A request begins: the connection leaves its wait list. */
  busy(conn: C): void {
    if (conn.waiting === Waiting.Silent) this.silent.delete(conn);
    else if (conn.waiting === Waiting.Idle) this.idle.delete(conn);
    else if (conn.waiting === Waiting.Head) this.arriving.delete(conn);
    conn.waiting = Waiting.No;
  }

  /** Its head came in part: timed from the accept if it is the first, from now otherwise. */
  headArriving(conn: C): void {
    const first = conn.waiting === Waiting.Silent;
    this.busy(conn);
    conn.waiting = Waiting.Head;
    if (!first) conn.waitingSince = Date.now();
    this.arriving.push(conn);
  }

  /** Its response done (and its body read), the connection waits for the next request. */
  rest(conn: C): void {
    // Closed already: it must not count as one that can make room.
    if (conn.waiting !== Waiting.No || conn.socket.destroyed) return;
    conn.waiting = Waiting.Idle;
    conn.waitingSince = Date.now();
    this.idle.push(conn);
  }

  /** The lean front no longer owns it (closed, or handed to node:http). */
  remove(conn: C): void {
    this.busy(conn);
    this.lean.delete(conn);
  }

  /** node:http owns it now and times it out; it still counts towards --max-connections until it closes. */
  handOff(socket: Socket): void {
    if (socket.destroyed) return;
    this.handedOff.set(socket, 0);
    socket.once('close', () => this.handedOff.delete(socket));
  }

  /** node:http has a whole head on this socket (its 'request'): a request is in progress until `res` closes. */
  headComplete(socket: Socket, res: { once(event: 'close', listener: () => void): unknown }): void {
    const requests = this.handedOff.get(socket);
    if (requests === undefined) return;
    this.handedOff.set(socket, requests + 1);
    res.once('close', () => {
      const left = this.handedOff.get(socket);
      if (left !== undefined) this.handedOff.set(socket, left - 1);
    });
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** @internal the timeouts: each list is in waiting order, so only the connections due are visited. */
  sweep(now: number): void {
    let silent = 0;
    for (let conn = this.silent.first; conn !== null && now - conn.waitingSince >= this.headersTimeoutMs; conn = this.silent.first) {
      this.close(conn);
      silent++;
    }
    for (let conn = this.idle.first; conn !== null && now - conn.waitingSince >= this.keepAliveTimeoutMs; conn = this.idle.first) this.close(conn);
    if (silent > 0) this.silentCloses.note(undefined, silent);
    // Not in deadline order (a first head counts from its accept): all are visited.
    for (let conn = this.arriving.first; conn !== null; ) {
      const next = conn.waitNext as C | null;
      if (now - conn.waitingSince >= this.headersTimeoutMs) {
        this.remove(conn);
        this.onHeadTimeout(conn);
      }
      conn = next;
    }
  }

  private evictOne(): boolean {
    const silent = this.silent.first;
    const idle = this.idle.first;
    const conn = silent !== null && idle !== null ? (silent.waitingSince <= idle.waitingSince ? silent : idle) : (silent ?? idle);
    if (conn !== null) {
      this.close(conn);
      return true;
    }
    // node:http's connections: idle when no request is in progress (a next head may have begun:
    // such a client sees the close a keep-alive connection may always see, and sends again).
    for (const [socket, requests] of this.handedOff) {
      if (socket.destroyed || socket.writableEnded || requests > 0) continue;
      this.handedOff.delete(socket);
      socket.destroy();
      return true;
    }
    return false;
  }

  /** Closed and forgotten at once: the open count must not wait for the socket's 'close'. */
  private close(conn: C): void {
    this.remove(conn);
    conn.socket.destroy();
  }
}

/**
 * Events that may come in floods, logged at most once a second with how many there were: a flood
 * of connections must not become a flood of log lines.
 */
export class CountedLog {
  private count = 0;
  private last = 0;
  private readonly write: (count: number, detail: string | undefined) => void;

  constructor(write: (count: number, detail: string | undefined) => void) {
    this.write = write;
  }

  note(detail?: string, n = 1): void {
    this.count += n;
    const now = Date.now();
    if (now - this.last < 1000) return;
    this.write(this.count, detail);
    this.count = 0;
    this.last = now;
  }
}

/** Clients refused at --max-connections (by the guard, or by node:http's own cap without the lean front). */
export function refusalLog(log: Logger, maxConnections: number): CountedLog {
  return new CountedLog((n, remote) =>
    log.error('PORTICO_ERR_TOO_MANY_CONNECTIONS', `${remote ?? 'a client'}: ${n} connection(s) closed at accept, ${maxConnections} open already (--max-connections)`),
  );
}
