// The connection guard's wait lists (gateway/front/connection-guard.ts): linked through the
// connections in the order they joined, so the sweep closes exactly the connections that are due
// and a connection that went back to waiting counts from its new start.
import { strict as assert } from 'node:assert';
import type { Socket } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { ConnectionGuard, Waiting, type GuardedConnection } from '../../../../gateway/front/connection-guard.js';
import type { HttpLimits } from '../../../../gateway/front/http-limits.js';
import { Logger } from '../../../../common/logger.js';

interface Conn extends GuardedConnection {
  readonly name: string;
  readonly socket: Socket & { closed: boolean };
}

function conn(name: string): Conn {
  const socket = {
    closed: false,
    destroyed: false,
    remoteAddress: '127.0.0.1',
    destroy(): void {
      this.closed = true;
      this.destroyed = true;
    },
  };
  return { name, socket: socket as unknown as Socket & { closed: boolean }, waiting: Waiting.No, waitingSince: 0, waitPrev: null, waitNext: null };
}

const limits: HttpLimits = {
  requestLine: 8190,
  fields: 100,
  fieldSize: 8190,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 3,
  bodyLimit: 1 << 20,
};

describe('connection guard wait lists', () => {
  const guards: Array<ConnectionGuard<Conn>> = [];
  afterEach(() => {
    for (const g of guards.splice(0)) g.stop();
  });
  function guard(): ConnectionGuard<Conn> {
    const g = new ConnectionGuard<Conn>(limits, new Logger({ disableRequests: true }), () => {});
    guards.push(g);
    return g;
  }
  const closed = (cs: Conn[]): string[] => cs.filter((c) => c.socket.closed).map((c) => c.name);

  it('the sweep closes the idle connections that are due, and one that rested again counts from then', () => {
    const g = guard();
    const cs = ['a', 'b', 'c'].map(conn);
    for (const c of cs) {
      g.add(c);
      g.busy(c);
      g.rest(c);
    }
    const [a, b, c] = cs as [Conn, Conn, Conn];
    a.waitingSince = b.waitingSince = c.waitingSince = 1000;
    // b serves a request and rests again later: it moves to the end of the idle list.
    g.busy(b);
    g.rest(b);
    b.waitingSince = 4000;
    g.sweep(1000 + limits.keepAliveTimeoutMs);
    assert.deepEqual(closed(cs), ['a', 'c']);
    assert.equal(g.lean.size, 1);
    g.sweep(4000 + limits.keepAliveTimeoutMs);
    assert.deepEqual(closed(cs), ['a', 'b', 'c']);
    assert.equal(g.lean.size, 0);
  });

  it('at --max-connections the connection waiting longest makes room; a busy one never does', () => {
    const g = guard();
    const cs = ['a', 'b', 'c'].map(conn);
    for (const c of cs) g.add(c);
    const [a, b, c] = cs as [Conn, Conn, Conn];
    g.busy(a);
    g.busy(b);
    g.rest(b);
    b.waitingSince = 500;
    c.waitingSince = 700;
    const admitBusy = (name: string): boolean => {
      const n = conn(name);
      if (!g.admit(n.socket)) return false;
      g.add(n);
      g.busy(n);
      return true;
    };
    assert.equal(admitBusy('d'), true);
    assert.deepEqual(closed(cs), ['b']);
    assert.equal(admitBusy('e'), true);
    assert.deepEqual(closed(cs), ['b', 'c']);
    // a, d and e are busy at the cap of 3: nothing can make room, the new client is closed.
    const f = conn('f');
    assert.equal(g.admit(f.socket), false);
    assert.equal(f.socket.closed, true);
    assert.deepEqual(closed(cs), ['b', 'c']);
  });

  it('a head arriving in pieces leaves the silent list; the sweep answers it once due, whatever its place', () => {
    const timedOut: string[] = [];
    const g = new ConnectionGuard<Conn>(limits, new Logger({ disableRequests: true }), (c) => timedOut.push(c.name));
    guards.push(g);
    const cs = ['a', 'b', 'c'].map(conn);
    for (const c of cs) g.add(c);
    const [a, b, c] = cs as [Conn, Conn, Conn];
    for (const x of cs) x.waitingSince = 0;
    g.headArriving(a);
    g.headArriving(b);
    g.headArriving(c);
    b.waitingSince = 5000;
    g.sweep(limits.headersTimeoutMs);
    assert.deepEqual(timedOut, ['a', 'c']);
    assert.equal(b.waiting, Waiting.Head);
    g.sweep(5000 + limits.headersTimeoutMs);
    assert.deepEqual(timedOut, ['a', 'c', 'b']);
  });
});
