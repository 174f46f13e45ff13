// socket.io behind portico serve with 4 workers: a session's long-polling requests and its
// WebSocket upgrade all reach the worker that holds it, pinned by the gateway's sticky cookie
// (gateway/forwarding/sticky-sessions.ts), with socket.io-client as Node users run it (withCredentials: true,
// which keeps cookies, as browsers do). Real socket.io server and client.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { io as connect, type Socket } from 'socket.io-client';
import { fixturesDir } from '../../../support/paths.js';
import { startServe, type HttpFront } from '../../support/portico-gateway.js';

interface Where {
  pid: number;
  transport: string;
}

function emitAck<T>(socket: Socket, event: string, ...args: unknown[]): Promise<T> {
  return new Promise((resolve) => socket.emit(event, ...args, (reply: T) => resolve(reply)));
}

describe('socket.io behind portico serve, 4 workers', { timeout: 60_000 }, () => {
  let front: HttpFront | undefined;
  before(async () => {
    front = await startServe(join(fixturesDir, 'socketio-app.mjs'), ['--workers', '4']);
  });
  after(async () => {
    await front?.stop();
  });

  test('polling then upgrade, 8 clients at once: every session stays on one worker, and the sessions spread', async () => {
    const clients = Array.from({ length: 8 }, () => connect(front!.url, { withCredentials: true, reconnection: false }));
    try {
      const hellos = await Promise.all(
        clients.map(
          (c) =>
            new Promise<Where>((resolve, reject) => {
              c.once('hello', resolve);
              c.once('connect_error', reject);
            }),
        ),
      );
      // Started on long-polling (the default), as a session's first requests always are.
      for (const h of hellos) assert.equal(h.transport, 'polling');
      for (const [i, c] of clients.entries()) {
        // Several polling round trips, and the upgrade to a WebSocket: all on the session's worker.
        assert.deepEqual(await emitAck(c, 'echo', { n: i, text: 'é'.repeat(i) }), { n: i, text: 'é'.repeat(i) });
        if (c.io.engine.transport.name !== 'websocket') await new Promise((resolve) => c.io.engine.once('upgrade', resolve));
        const where = await emitAck<Where>(c, 'whoami');
        assert.equal(where.pid, hellos[i]!.pid, `client ${i} moved from worker ${hellos[i]!.pid} to ${where.pid}`);
        assert.equal(where.transport, 'websocket');
      }
      assert.ok(new Set(hellos.map((h) => h.pid)).size > 1, `all 8 sessions on one worker: ${hellos.map((h) => h.pid).join(', ')}`);
    } finally {
      for (const c of clients) c.close();
    }
  });

  test('websocket-only clients need no stickiness, and plain requests are still balanced without a cookie', async () => {
    const c = connect(front!.url, { transports: ['websocket'], reconnection: false });
    try {
      const hello = await new Promise<Where>((resolve) => c.once('hello', resolve));
      assert.equal(hello.transport, 'websocket');
      assert.deepEqual(await emitAck(c, 'echo', 'x'), 'x');
    } finally {
      c.close();
    }
    const res = await fetch(`${front!.url}/plain`);
    assert.equal(res.headers.get('set-cookie'), null);
    assert.match(await res.text(), /^plain \d+$/);
  });
});
