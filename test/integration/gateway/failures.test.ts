// What the gateway does when the uwsgi side fails: nothing listening, a worker too slow, a worker
// dying mid-body, and the client going away. Each answer is checked as a client sees it and by the
// coded line in the gateway's (or the worker's) log.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Started } from '../../../support/child-process.js';
import { fixturesDir } from '../../../support/paths.js';
import { outputLine, startGateway, type HttpFront } from '../../support/portico-gateway.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

const APP = join(fixturesDir, 'gateway-app.mjs');

/** A stack that never prints its ready line fails the hook instead of hanging the run. */
const START_TIMEOUT = { timeout: 30_000 };

describe('gateway: unreachable and slow upstreams, client hang-ups', { timeout: 60_000 }, () => {
  let tmp: ReturnType<typeof makeTmpDir> | undefined;
  let worker: Started | undefined;
  let deadOnly: HttpFront | undefined;
  let deadThenLive: HttpFront | undefined;
  let impatient: HttpFront | undefined;

  before(async () => {
    tmp = makeTmpDir('gateway-failures');
    const live = `uwsgi://unix:${join(tmp.path, 'live.sock')}`;
    // Nothing ever listens here: connecting fails with ENOENT.
    const dead = `uwsgi://unix:${join(tmp.path, 'nobody-here.sock')}`;
    worker = await startWorker(APP, join(tmp.path, 'live.sock'));
    [deadOnly, deadThenLive, impatient] = await Promise.all([startGateway([dead]), startGateway([dead, live]), startGateway([live], ['--upstream-timeout', '1'])]);
  }, START_TIMEOUT);

  after(async () => {
    await Promise.all([deadOnly?.stop(), deadThenLive?.stop(), impatient?.stop()]);
    await worker?.stop();
    tmp?.cleanup();
  });

  test('no upstream reachable: 502 and PORTICO_ERR_UPSTREAM_CONNECT in the gateway log', async () => {
    const res = await fetch(`${deadOnly!.url}/`);
    assert.equal(res.status, 502);
    assert.equal(await res.text(), '502 PORTICO_ERR_UPSTREAM_CONNECT\n');
    await outputLine(deadOnly!.proc, /PORTICO_ERR_UPSTREAM_CONNECT: GET \/: .*nobody-here\.sock/);
  });

  test('one dead and one live upstream: every request moves on to the live one', async () => {
    // Four in a row, so the round-robin start lands on the dead upstream at least once.
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${deadThenLive!.url}/any?i=${i}`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'ok');
    }
    assert.doesNotMatch(deadThenLive!.proc.output(), /PORTICO_ERR_/);
  });

  test('--upstream-timeout 1 and a worker that holds the request: 504 and PORTICO_ERR_UPSTREAM_TIMEOUT', async () => {
    const res = await fetch(`${impatient!.url}/hold`);
    assert.equal(res.status, 504);
    assert.equal(await res.text(), '504 PORTICO_ERR_UPSTREAM_TIMEOUT\n');
    await outputLine(impatient!.proc, /PORTICO_ERR_UPSTREAM_TIMEOUT: GET \/hold: .*no response head within 1 s/);
    // The gateway closed the worker's connection: the held request counts as the client's abort.
    await outputLine(worker!, /GET \/hold => generated 0 bytes in \d+ msecs \(HTTP\/1\.1 499\).*\(client aborted\)/);
  });

  test('the client hangs up while the app waits: the app sees the abort', async () => {
    await hangUpOnceWaiting(deadThenLive!, worker!, 'plain');
    await outputLine(worker!, /app saw the abort/);
    await outputLine(worker!, /GET \/wait-abort\?plain => generated 0 bytes in \d+ msecs \(HTTP\/1\.1 499\).*\(client aborted\)/);
  });

  test('clients that reset right after sending the request leave nothing waiting in the app', async () => {
    // The reset reaches the gateway while it is still connecting upstream (here, failing over
    // from the dead socket): a request forwarded after that must not wait for a client that is gone.
    for (let i = 0; i < 10; i++) await resetAfterRequest(deadThenLive!, `/wait-abort?reset-${i}`);
    // Sent after the resets, so by the time this one's abort is through, theirs have been handled.
    await hangUpOnceWaiting(deadThenLive!, worker!, 'after-resets');
    const reached = [...worker!.output().matchAll(/app is waiting for the abort \(\?(reset-\d+)\)/g)].map((m) => m[1]!);
    await Promise.all(reached.map((id) => outputLine(worker!, new RegExp(`the wait for \\?${id} ended`), 5_000)));
  });
});

/** GET /wait-abort?ID through `front`, hung up once the app has it; resolves when the app saw the abort. */
async function hangUpOnceWaiting(front: HttpFront, worker: Started, id: string): Promise<void> {
  const req = httpRequest(`${front.url}/wait-abort?${id}`, { agent: false });
  const failed = new Promise<Error>((resolve) => req.on('error', resolve));
  req.end();
  await outputLine(worker, new RegExp(`app is waiting for the abort \\(\\?${id}\\)`));
  req.destroy();
  await failed;
  await outputLine(worker, new RegExp(`the wait for \\?${id} ended`));
}

/** A raw client that writes a whole GET and resets the connection (RST) in the same tick. */
function resetAfterRequest(front: HttpFront, path: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(front.port, '127.0.0.1', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      socket.resetAndDestroy();
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve());
  });
}

describe('gateway: a worker killed in the middle of a body with a Content-Length', { timeout: 60_000 }, () => {
  let tmp: ReturnType<typeof makeTmpDir> | undefined;
  let worker: Started | undefined;
  let gateway: HttpFront | undefined;

  before(async () => {
    tmp = makeTmpDir('gateway-kill');
    const socket = join(tmp.path, 'doomed.sock');
    worker = await startWorker(APP, socket);
    gateway = await startGateway([`uwsgi://unix:${socket}`]);
  }, START_TIMEOUT);

  after(async () => {
    await gateway?.stop();
    await worker?.stop();
    tmp?.cleanup();
  });

  test('the client sees an aborted body, never a short one, and the gateway logs PORTICO_ERR_UPSTREAM_ABORTED', async () => {
    const res = await fetch(`${gateway!.url}/partial`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), String(1024 * 1024));
    const reader = res.body!.getReader();
    // The first bytes went all the way through: the worker is now mid-body.
    const first = await reader.read();
    assert.equal(first.done, false);
    assert.ok(first.value!.length > 0);

    worker!.child.kill('SIGKILL');
    await assert.rejects(async () => {
      for (;;) {
        const { done } = await reader.read();
        if (done) return;
      }
    }, 'the body ended as if complete although the worker died');
    await outputLine(gateway!.proc, /PORTICO_ERR_UPSTREAM_ABORTED: GET \/partial via \S+doomed\.sock: closed after \d+ of 1048576 body bytes; client connection aborted/);
  });
});
