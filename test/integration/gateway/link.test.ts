// The gateway over the native link (portico://): `portico serve --link native` end to end for the
// fetch and wsgi kinds, keep-alive seen from the gateway's pool counters, failures mid-response and
// client hang-ups, and real uWSGI (which does not speak the link) behind a portico:// upstream.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startProcess, type Started } from '../../../support/child-process.js';
import { fixturesDir, vectorsDir } from '../../../support/paths.js';
import { outputLine, startGateway, type HttpFront } from '../../support/portico-gateway.js';
import { startWorker } from '../../../support/portico-worker.js';
import { rawRequest } from '../../support/raw-http.js';
import { appCases, serveForSuite } from '../../support/serve-app-cases.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { needPeer, uwsgiMissing } from '../../support/peers.js';

const KINDS = [
  { kind: 'fetch', app: 'fetch-app.mjs' },
  { kind: 'wsgi', app: 'wsgi-app.mjs' },
] as const;

const MiB = 1024 * 1024;
const GATEWAY_APP = join(fixturesDir, 'gateway-app.mjs');
/** A stack that never prints its ready line fails the hook instead of hanging the run. */
const START_TIMEOUT = { timeout: 30_000 };

for (const { kind, app } of KINDS) {
  describe(`portico serve --link native --workers 2, ${kind} app`, { timeout: 120_000 }, () => {
    const stack = serveForSuite(join(fixturesDir, app), ['--workers', '2', '--link', 'native']);
    appCases(stack);

    test('the gateway forwards over portico:// upstreams', () => {
      assert.match(stack.front.proc.output(), /gateway: forwarding to portico:\/\/unix:\S+worker-1-\d+\.sock/);
      assert.match(stack.front.proc.output(), /gateway: forwarding to portico:\/\/unix:\S+worker-2-\d+\.sock/);
    });

    test('a chunked upload of unknown length streams through and is echoed', async () => {
      const pieces = ['first piece, ', 'zweites Stück, ', '세 번째', randomBytes(MiB / 2), randomBytes(MiB / 2)];
      const res = await rawRequest(stack.base, '/echo', {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' },
        body: pieces,
      });
      assert.equal(res.status, 200);
      assert.ok(res.body.equals(Buffer.concat(pieces.map((p) => Buffer.from(p)))), 'echoed body differs');
    });

    test('keep-alive: 40 sequential requests use far fewer connections, as the gateway reports at stop', async () => {
      for (let i = 0; i < 40; i++) {
        const res = await fetch(`${stack.base}/seq?i=${i}`);
        assert.equal(res.status, 200);
        await res.arrayBuffer();
      }
      await stack.front.stop();
      const lines = [...stack.front.proc.output().matchAll(/native link \S+worker-\d+-\d+\.sock: (\d+) connections for (\d+) requests/g)];
      assert.equal(lines.length, 2, 'one pool line per worker');
      const connections = lines.reduce((n, m) => n + Number(m[1]), 0);
      const requests = lines.reduce((n, m) => n + Number(m[2]), 0);
      assert.ok(requests >= 50, `only ${requests} requests counted`);
      // Sequential requests need one connection per worker; a few more are fine, one per request is not.
      assert.ok(connections <= 4, `${connections} connections for ${requests} requests`);
    });
  });
}

describe('gateway over the native link: failures and hang-ups', { timeout: 60_000 }, () => {
  let tmp: ReturnType<typeof makeTmpDir> | undefined;
  let steady: Started | undefined;
  let doomed: Started | undefined;
  let front: HttpFront | undefined;
  let doomedFront: HttpFront | undefined;
  let impatient: HttpFront | undefined;

  before(async () => {
    tmp = makeTmpDir('gateway-native');
    const steadySock = join(tmp.path, 'steady.sock');
    const doomedSock = join(tmp.path, 'doomed.sock');
    [steady, doomed] = await Promise.all([startWorker(GATEWAY_APP, steadySock), startWorker(GATEWAY_APP, doomedSock)]);
    [front, doomedFront, impatient] = await Promise.all([
      startGateway([`portico://unix:${steadySock}`]),
      startGateway([`portico://unix:${doomedSock}`]),
      startGateway([`portico://unix:${steadySock}`], ['--upstream-timeout', '1']),
    ]);
  }, START_TIMEOUT);

  after(async () => {
    await Promise.all([front?.stop(), doomedFront?.stop(), impatient?.stop()]);
    await Promise.all([steady?.stop(), doomed?.stop()]);
    tmp?.cleanup();
  });

  test('the client hangs up while the app waits: REQUEST_ABORT reaches the app, and the link serves on', async () => {
    const req = httpRequest(`${front!.url}/wait-abort?native`, { agent: false });
    const failed = new Promise<Error>((resolve) => req.on('error', resolve));
    req.end();
    await outputLine(steady!, /app is waiting for the abort \(\?native\)/);
    req.destroy();
    await failed;
    await outputLine(steady!, /app saw the abort/);
    await outputLine(steady!, /the wait for \?native ended/);
    const res = await fetch(`${front!.url}/any`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'ok');
    assert.doesNotMatch(front!.proc.output(), /PORTICO_ERR_/);
  });

  test('the app answers before reading a 4 MiB upload: the rest is cancelled and the link serves on', async () => {
    const res = await fetch(`${front!.url}/any`, { method: 'POST', body: randomBytes(4 * MiB) });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'ok');
    for (let i = 0; i < 3; i++) {
      const next = await fetch(`${front!.url}/echo-length`, { method: 'POST', body: 'twelve bytes' });
      assert.equal(await next.text(), '12');
    }
    assert.doesNotMatch(front!.proc.output(), /PORTICO_ERR_/);
  });

  test('RESPONSE_ABORT mid-body: the client sees an aborted body, the gateway logs it, the next request is fine', async () => {
    // The head and the abort come close together: fetch fails either before or while reading the body.
    await assert.rejects(async () => {
      const res = await fetch(`${front!.url}/stream-then-throw`);
      await res.arrayBuffer();
    }, 'the body ended as if complete although the app failed');
    await outputLine(front!.proc, /PORTICO_ERR_UPSTREAM_ABORTED: GET \/stream-then-throw via \S+steady\.sock: the worker aborted the response .*; client connection aborted/);
    const next = await fetch(`${front!.url}/any`);
    assert.equal(await next.text(), 'ok');
  });

  test('--upstream-timeout 1 and a worker that holds the request: 504 and PORTICO_ERR_UPSTREAM_TIMEOUT', async () => {
    const res = await fetch(`${impatient!.url}/hold`);
    assert.equal(res.status, 504);
    assert.equal(await res.text(), '504 PORTICO_ERR_UPSTREAM_TIMEOUT\n');
    await outputLine(impatient!.proc, /PORTICO_ERR_UPSTREAM_TIMEOUT: GET \/hold: .*no response head within 1 s/);
  });

  test('a worker killed mid-body: the client sees an aborted body and the gateway logs PORTICO_ERR_UPSTREAM_ABORTED', async () => {
    const res = await fetch(`${doomedFront!.url}/partial`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), String(MiB));
    const reader = res.body!.getReader();
    const first = await reader.read();
    assert.equal(first.done, false);
    doomed!.child.kill('SIGKILL');
    await assert.rejects(async () => {
      for (;;) {
        const { done } = await reader.read();
        if (done) return;
      }
    }, 'the body ended as if complete although the worker died');
    await outputLine(doomedFront!.proc, /PORTICO_ERR_UPSTREAM_ABORTED: GET \/partial via \S+doomed\.sock: .*; client connection aborted/);
  });
});

describe('a portico:// upstream that is real uWSGI (python3 plugin)', { skip: needPeer(uwsgiMissing()), timeout: 60_000 }, () => {
  let tmp: ReturnType<typeof makeTmpDir> | undefined;
  let uwsgi: Started | undefined;
  let nativeOnly: HttpFront | undefined;
  let withFallback: HttpFront | undefined;

  before(async () => {
    tmp = makeTmpDir('gateway-native-uwsgi');
    const socket = join(tmp.path, 'uwsgi.sock');
    // As in uwsgi-interop.test.ts: --strict refuses misspelt options, --die-on-term makes SIGTERM a
    // shutdown, --need-app makes a broken app file an exit.
    uwsgi = startProcess('/usr/bin/uwsgi', ['--strict', '--die-on-term', '--plugin', 'python3', '--socket', socket, '--wsgi-file', join(vectorsDir, 'uwsgi-responses-app.py'), '--need-app']);
    await uwsgi.waitFor(/spawned uWSGI worker 1 \(and the only\)/);
    [nativeOnly, withFallback] = await Promise.all([startGateway([`portico://unix:${socket}`]), startGateway([`portico://unix:${socket}`, `uwsgi://unix:${socket}`])]);
  }, START_TIMEOUT);

  after(async () => {
    await Promise.all([nativeOnly?.stop(), withFallback?.stop()]);
    await uwsgi?.stop();
    tmp?.cleanup();
  });

  test('uWSGI does not speak the native link: 502 and PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL, saying to use uwsgi://', async () => {
    const res = await fetch(`${nativeOnly!.url}/`);
    assert.equal(res.status, 502);
    assert.equal(await res.text(), '502 PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL\n');
    await outputLine(
      nativeOnly!.proc,
      /PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL: GET \/: .*portico:\/\/unix:\S+uwsgi\.sock answered the native link's HELLO without a byte .*takes --upstream uwsgi:\/\/unix:\S+uwsgi\.sock/,
    );
    // uWSGI's own log names the reason too.
    await outputLine(uwsgi!, /unavailable modifier requested: 77/);
  });

  test('with a uwsgi:// upstream to the same uWSGI as well, every request succeeds over it', async () => {
    // Four in a row, so the round-robin start lands on the portico:// upstream at least once.
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${withFallback!.url}/`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'Hello World');
    }
  });
});
