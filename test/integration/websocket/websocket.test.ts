// WebSockets (issue 14): a node-kind http.Server with ws's WebSocketServer on it takes the
// handshake behind nginx uwsgi_pass (on the uwsgi connection itself, which nginx tunnels on the
// app's 101, as with uWSGI's websockets) and behind portico serve (whose gateway hands the client's
// connection to the worker). A handshake the app does not take is refused with 501
// PORTICO_ERR_UPGRADE_UNSUPPORTED and a log line, never answered as the plain GET it also is.
// Other upgrades (h2c) are answered normally, as RFC 9110 allows. Stats, reloads, 1,000
// connections, kill -9, uwsgi:// upstreams and real uWSGI, Python's client. The same checks on
// every path are in websocket-paths.test.ts, each app API in websocket-apps.test.ts.
// Real nginx, real ws client and server.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { outputLine, startProcess, type Started } from '../../../support/child-process.js';
import { startNginx, type Nginx } from '../../../support/nginx.js';
import { fixturesDir, repoRoot } from '../../../support/paths.js';
import { startGateway, startServe, type HttpFront } from '../../support/portico-gateway.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { fetchStats } from '../../../master/stats-client.js';
import { needPeer, nginxMissing, pythonMissing, uwsgiMissing } from '../../support/peers.js';

/** Opens a ws client and collects what it receives, in order. */
async function open(url: string): Promise<{ ws: WebSocket; next: () => Promise<WebSocket.RawData> }> {
  const ws = new WebSocket(url);
  const queue: WebSocket.RawData[] = [];
  let wake: (() => void) | null = null;
  ws.on('message', (data) => {
    queue.push(data);
    wake?.();
  });
  await once(ws, 'open');
  const next = async (): Promise<WebSocket.RawData> => {
    while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    return queue.shift()!;
  };
  return { ws, next };
}

/** What a ws client that is refused sees: ws's 'unexpected-response' status. */
async function refusedStatus(url: string): Promise<number> {
  const ws = new WebSocket(url);
  ws.on('error', () => {});
  const [, res] = (await once(ws, 'unexpected-response')) as [unknown, { statusCode: number; resume(): void }];
  res.resume();
  ws.terminate();
  return res.statusCode;
}

const run = promisify(execFile);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A text and a binary message of `size` bytes come back as sent; then the app closes with 4001 "bye". */
async function echoThenServerClose(ws: WebSocket, next: () => Promise<WebSocket.RawData>, size: number): Promise<void> {
  ws.send('ping text');
  assert.equal((await next()).toString(), 'ping text');
  const big = randomBytes(size);
  ws.send(big);
  assert.equal(sha(Buffer.from((await next()) as Buffer)), sha(big));
  ws.send('close-me');
  const [code, reason] = (await once(ws, 'close')) as [number, Buffer];
  assert.equal(code, 4001);
  assert.equal(reason.toString(), 'bye');
}

describe('WebSockets', { skip: needPeer(nginxMissing()), timeout: 60_000 }, () => {
  const tmp = makeTmpDir('websocket');
  let wsWorker: Started | undefined;
  let fetchWorker: Started | undefined;
  let nginx: Nginx | undefined;
  let fetchNginx: Nginx | undefined;
  let serve: HttpFront | undefined;
  let fetchServe: HttpFront | undefined;

  before(async () => {
    const wsSock = join(tmp.path, 'ws.sock');
    const fetchSock = join(tmp.path, 'fetch.sock');
    [wsWorker, fetchWorker, nginx, fetchNginx, serve, fetchServe] = await Promise.all([
      startWorker(join(fixturesDir, 'ws-server-app.mjs'), wsSock, ['--chmod-socket', '666']),
      startWorker(join(fixturesDir, 'connection-app.mjs'), fetchSock, ['--chmod-socket', '666']),
      startNginx(join(tmp.path, 'nginx-ws'), wsSock),
      startNginx(join(tmp.path, 'nginx-fetch'), fetchSock),
      startServe(join(fixturesDir, 'ws-server-app.mjs'), ['--stats', join(tmp.path, 'stats.sock')]),
      startServe(join(fixturesDir, 'connection-app.mjs')),
    ]);
  });

  after(async () => {
    await Promise.all([nginx?.stop(), fetchNginx?.stop()]);
    await Promise.all([serve?.stop(), fetchServe?.stop()]);
    await Promise.all([wsWorker?.stop(), fetchWorker?.stop()]);
    tmp.cleanup();
  });

  test('nginx uwsgi_pass -> worker: ws handshake, text and 4 MiB binary echoed, server close code, then a plain GET', async () => {
    const url = nginx!.url.replace(/^http/, 'ws');
    const { ws, next } = await open(`${url}/chat?room=1`);
    assert.equal((await next()).toString(), 'hello /chat?room=1');
    await echoThenServerClose(ws, next, 4 * 1024 * 1024);
    // The request's log line comes when its connection closes, with the app's 101.
    await outputLine(wsWorker!, /GET \/chat\?room=1 => generated \d+ bytes in \d+ msecs \(HTTP\/1\.1 101\)/);
    const plain = await fetch(`${nginx!.url}/plain`);
    assert.equal(await plain.text(), 'plain /plain');
  });

  test('nginx uwsgi_pass -> worker: a client close reaches the app with its code', async () => {
    const { ws, next } = await open(`${nginx!.url.replace(/^http/, 'ws')}/bye`);
    await next();
    ws.close(1000, 'done');
    await once(ws, 'close');
    await outputLine(wsWorker!, /app saw close 1000/);
  });

  test('a fetch app behind nginx: the handshake is 501 PORTICO_ERR_UPGRADE_UNSUPPORTED, never its GET; an h2c upgrade is served as HTTP/1.1', async () => {
    assert.equal(await refusedStatus(`${fetchNginx!.url.replace(/^http/, 'ws')}/fixed`), 501);
    await outputLine(fetchWorker!, /PORTICO_ERR_UPGRADE_UNSUPPORTED: GET \/fixed: .*answered a WebSocket handshake with 200, not an upgrade/);
    // curl --http2 on http:// asks for h2c this way: ignored, the normal answer comes back.
    const res = await rawExchange(new URL(fetchNginx!.url), 'GET /h2c HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n');
    assert.match(res, /^HTTP\/1\.1 200 /);
    assert.match(res, /GET \/h2c$/);
  });

  test('portico serve: ws handshake, text and 4 MiB binary echoed, close codes both ways, then a plain GET', async () => {
    const { ws, next } = await open(`${serve!.url.replace(/^http/, 'ws')}/chat?room=2`);
    assert.equal((await next()).toString(), 'hello /chat?room=2');
    await echoThenServerClose(ws, next, 4 * 1024 * 1024);
    await outputLine(serve!.proc, /GET \/chat\?room=2 => generated \d+ bytes in \d+ msecs \(HTTP\/1\.1 101\)/);
    const second = await open(`${serve!.url.replace(/^http/, 'ws')}/again`);
    await second.next();
    // --stats (and portico top, /metrics) count it as an upgraded connection, not a request in flight.
    const stats = await fetchStats(join(tmp.path, 'stats.sock'));
    assert.deepEqual(
      stats.workers.map((w) => [w.upgraded, w.in_flight]),
      [[1, 0]],
    );
    second.ws.close(1000);
    await once(second.ws, 'close');
    await outputLine(serve!.proc, /app saw close 1000/);
    const plain = await fetch(`${serve!.url}/plain`);
    assert.equal(await plain.text(), 'plain /plain');
  });

  test("portico serve hands the connection to the worker: after the handshake the worker process holds the client's TCP connection, the gateway none", async () => {
    const c = await open(`${serve!.url.replace(/^http/, 'ws')}/whose`);
    await c.next();
    c.ws.send('pid');
    const workerPid = Number((await c.next()).toString().split(' ')[1]);
    const clientPort = (c.ws as unknown as { _socket: { localPort: number } })._socket.localPort;
    // ss names the process that holds each socket: the server side of this client's connection.
    const { stdout } = await run('ss', ['-tnpH', 'state', 'established', `( sport = :${serve!.port} and dport = :${clientPort} )`]);
    const holders = [...stdout.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
    assert.deepEqual(holders, [workerPid], stdout);
    c.ws.close(1000);
    await once(c.ws, 'close');
  });

  test('portico serve: a frame sent with the handshake, before the 101, reaches the app after the connection changes hands', async () => {
    // Not what a browser does (RFC 6455 §4.1 has clients wait), but bytes the gateway read past
    // the head go to the worker with the descriptor, and the app reads them first.
    const payload = Buffer.from('early bird');
    const mask = randomBytes(4);
    const frame = Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!))]);
    const socket = connect({ host: '127.0.0.1', port: serve!.port });
    await once(socket, 'connect');
    const key = randomBytes(16).toString('base64');
    socket.write(Buffer.concat([Buffer.from(`GET /early HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`), frame]));
    let got = Buffer.alloc(0);
    // The 101's head, the greeting frame, then the echo: unmasked text frames, short payloads.
    const texts = (): string[] => {
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return [];
      const out: string[] = [];
      for (let at = end + 4; at + 2 <= got.length && at + 2 + got[at + 1]! <= got.length; at += 2 + got[at + 1]!) out.push(got.subarray(at + 2, at + 2 + got[at + 1]!).toString());
      return out;
    };
    while (texts().length < 2) got = Buffer.concat([got, ((await once(socket, 'data')) as [Buffer])[0]]);
    assert.match(got.toString('latin1'), /^HTTP\/1\.1 101 /);
    assert.deepEqual(texts(), ['hello /early', 'early bird']);
    socket.destroy();
  });

  test('portico serve: a client that sends the moment the 101 arrives loses nothing while the connection changes hands (300 clients)', async () => {
    // The gateway stops reading the socket before it hands it over (libuv's readStop on the
    // handle: Node has no public call for it, so this pins that it is still there).
    const probe = connect({ host: '127.0.0.1', port: serve!.port });
    await once(probe, 'connect');
    assert.equal(typeof (probe as unknown as { _handle: { readStop?: unknown } })._handle.readStop, 'function');
    probe.destroy();
    const url = `${serve!.url.replace(/^http/, 'ws')}/eager`;
    for (let batch = 0; batch < 3; batch++) {
      await Promise.all(
        Array.from({ length: 100 }, async (_, i) => {
          const ws = new WebSocket(url);
          const got: string[] = [];
          ws.on('open', () => ws.send(`first ${i}`));
          ws.on('message', (data) => {
            got.push(data.toString());
            if (got.length === 2) ws.close(1000);
          });
          await once(ws, 'close');
          assert.deepEqual(got, ['hello /eager', `first ${i}`]);
        }),
      );
    }
  });

  test('portico serve: connections handed to the workers count towards --max-connections until they close', async () => {
    const front = await startServe(join(fixturesDir, 'ws-server-app.mjs'), ['--max-connections', '2']);
    const url = `${front.url.replace(/^http/, 'ws')}/counted`;
    const clients: WebSocket[] = [];
    try {
      const a = await open(url);
      const b = await open(url);
      clients.push(a.ws, b.ws);
      await Promise.all([a.next(), b.next()]);
      // Both live in the worker; a third client finds the gateway full and is closed at accept.
      assert.equal(await plainGet(front.port), '');
      await outputLine(front.proc, /PORTICO_ERR_TOO_MANY_CONNECTIONS: .*2 open already \(--max-connections\)/);
      a.ws.close(1000);
      await once(a.ws, 'close');
      // The worker reports the close over its IPC channel: a new client gets in once it arrives.
      let served = '';
      for (let i = 0; i < 200 && served === ''; i++) served = await plainGet(front.port);
      assert.match(served, /^HTTP\/1\.1 200 [\s\S]*plain \/plain/);
    } finally {
      for (const ws of clients) ws.terminate();
      await front.stop();
    }
  });

  test('portico serve: a chain reload keeps an open WebSocket with its old worker until --graceful-timeout, then closes it with 1001; new ones go to the new worker', async () => {
    const front = await startServe(join(fixturesDir, 'ws-server-app.mjs'), ['--graceful-timeout', '1']);
    try {
      const url = front.url.replace(/^http/, 'ws');
      const before = await open(`${url}/before`);
      await before.next();
      const closed = once(before.ws, 'close');
      front.proc.child.kill('SIGHUP');
      // Still served by the old worker while the new one starts and it waits out its grace.
      before.ws.send('still here');
      assert.equal((await before.next()).toString(), 'still here');
      const [code] = (await closed) as [number, Buffer];
      assert.equal(code, 1001);
      const after = await open(`${url}/after`);
      assert.equal((await after.next()).toString(), 'hello /after');
      after.ws.close();
    } finally {
      await front.stop();
    }
  });

  test('portico serve, 2 workers: 1,000 connections at once all echo; a worker killed with -9 closes only its own connections', async () => {
    const front = await startServe(join(fixturesDir, 'ws-server-app.mjs'), ['--workers', '2']);
    const url = `${front.url.replace(/^http/, 'ws')}/many`;
    const clients: Array<Awaited<ReturnType<typeof open>>> = [];
    try {
      // In batches: a thousand handshakes at once only measure the machine's load.
      for (let i = 0; i < 1000; i += 100) clients.push(...(await Promise.all(Array.from({ length: 100 }, () => open(url)))));
      await Promise.all(
        clients.map(async (c, i) => {
          await c.next();
          c.ws.send(`n${i}`);
          assert.equal((await c.next()).toString(), `n${i}`);
          c.ws.send('pid');
        }),
      );
      const pids = await Promise.all(clients.map(async (c) => Number((await c.next()).toString().split(' ')[1])));
      const workers = [...new Set(pids)];
      assert.equal(workers.length, 2, `connections on ${workers.length} worker(s)`);
      const victim = workers[0]!;
      const closed = clients.filter((_, i) => pids[i] === victim).map((c) => once(c.ws, 'close'));
      process.kill(victim, 'SIGKILL');
      const codes = await Promise.all(closed);
      for (const [code] of codes as Array<[number]>) assert.equal(code, 1006);
      // The other worker's connections live on.
      const survivors = clients.filter((_, i) => pids[i] !== victim);
      for (const c of survivors.slice(0, 20)) {
        c.ws.send('still');
        assert.equal((await c.next()).toString(), 'still');
      }
    } finally {
      for (const c of clients) c.ws.terminate();
      await front.stop();
    }
  });

  test("portico gateway to uwsgi:// upstreams: a portico worker and real uWSGI's own websockets, echoed through the gateway", { skip: needPeer(uwsgiMissing()) }, async () => {
    const dir = join(tmp.path, 'uwsgi-link');
    mkdirSync(dir);
    const workerSock = join(dir, 'worker.sock');
    const uwsgiSock = join(dir, 'uwsgi.sock');
    const worker = await startWorker(join(fixturesDir, 'ws-server-app.mjs'), workerSock);
    const uwsgi = startProcess('/usr/bin/uwsgi', [
      '--strict',
      '--die-on-term',
      '--plugin',
      'python3',
      '--socket',
      uwsgiSock,
      '--wsgi-file',
      join(fixturesDir, 'uwsgi-websocket-app.py'),
      '--need-app',
      '--disable-logging',
    ]);
    const [toWorker, toUwsgi] = await Promise.all([startGateway([`uwsgi://unix:${workerSock}`]), uwsgi.waitFor(/spawned uWSGI worker 1/).then(() => startGateway([`uwsgi://unix:${uwsgiSock}`]))]);
    try {
      const w = await open(`${toWorker.url.replace(/^http/, 'ws')}/via-uwsgi-link`);
      assert.equal((await w.next()).toString(), 'hello /via-uwsgi-link');
      await echoThenServerClose(w.ws, w.next, 256 * 1024);
      const u = await open(`${toUwsgi.url.replace(/^http/, 'ws')}/uwsgi`);
      u.ws.send('to uWSGI');
      assert.equal((await u.next()).toString(), 'to uWSGI');
      // uwsgi.websocket_send writes text frames: a second text message, 64 KiB of it.
      const long = 'x'.repeat(64 * 1024);
      u.ws.send(long);
      assert.equal((await u.next()).toString(), long);
      u.ws.close(1000);
      await once(u.ws, 'close');
      await outputLine(toUwsgi.proc, /"GET \/uwsgi HTTP\/1\.1" 101 /);
    } finally {
      await Promise.all([toWorker.stop(), toUwsgi.stop()]);
      await Promise.all([worker.stop(), uwsgi.stop()]);
    }
  });

  test("Python's websocket-client (Debian's python3-websocket) through portico serve and through nginx uwsgi_pass", {
    skip: needPeer(pythonMissing({ name: 'websocket', pkg: 'python3-websocket' })),
  }, async () => {
    for (const [front, path] of [
      [serve!, '/py-serve'],
      [nginx!, '/py-nginx'],
    ] as const) {
      const { stdout } = await run('/usr/bin/python3', [join(repoRoot, 'test', 'support', 'ws-client.py'), `${front.url.replace(/^http/, 'ws')}${path}`]);
      assert.deepEqual(JSON.parse(stdout), { greeting: `hello ${path}`, text: 'from python', binary_ok: true });
    }
  });

  test('portico serve: a fetch app answers the handshake 501 PORTICO_ERR_UPGRADE_UNSUPPORTED, never its GET; an h2c upgrade is answered normally', async () => {
    assert.equal(await refusedStatus(`${fetchServe!.url.replace(/^http/, 'ws')}/fixed`), 501);
    await outputLine(fetchServe!.proc, /PORTICO_ERR_UPGRADE_UNSUPPORTED: GET \/fixed: .*answered a WebSocket handshake with 200, not an upgrade/);
    // An h2c upgrade reaches the app through the same tunnel, which answers it normally and closes.
    const res = await rawExchange(new URL(fetchServe!.url), 'GET /h2c HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n');
    assert.match(res, /^HTTP\/1\.1 200 /);
    assert.match(res, /\r\nConnection: close\r\n/);
    assert.match(res, /GET \/h2c$/);
  });
});

/** GET /plain on a fresh connection: the whole answer, or '' when the connection is refused or reset. */
async function plainGet(port: number): Promise<string> {
  const socket = connect({ host: '127.0.0.1', port });
  const chunks: Buffer[] = [];
  let failed = false;
  socket.on('error', () => (failed = true));
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.write('GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  // Not once(): it rejects on the 'error' (a reset) that comes before the close.
  await new Promise((resolve) => socket.once('close', resolve));
  return failed ? '' : Buffer.concat(chunks).toString('latin1');
}

/** One request over a fresh connection, the whole answer up to the close. */
async function rawExchange(url: URL, request: string): Promise<string> {
  const socket = connect({ host: url.hostname, port: Number(url.port) });
  await once(socket, 'connect');
  // Not end(): nginx takes a client's FIN before its answer for an abort (499).
  socket.write(request.replace('Connection: Upgrade', 'Connection: Upgrade, close'));
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  await once(socket, 'close');
  return Buffer.concat(chunks).toString('latin1');
}
