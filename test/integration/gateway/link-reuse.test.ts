// The gateway's native-link pool against peers that misbehave on purpose: a pooled connection the
// worker closed while the request was on its way (sent again on a new connection, but only when
// nothing of the answer came back and nothing of the body was taken from the client), and an
// upstream that refuses the handshake (skipped for a backoff instead of being tried per request).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isPorticoError, type PorticoError } from '../../../common/errors.js';
import { NativeLinkPool } from '../../../gateway/link/link-pool.js';
import { parseUpstream } from '../../../gateway/forwarding/upstream-pool.js';
import { FrameDecoder, FrameType, HEAD_SCHEMAS, StreamFrameWriter, acceptHello, queueStreamResponseHead } from '../../../protocol/link/index.js';
import type { Started } from '../../../support/child-process.js';
import { fixturesDir } from '../../../support/paths.js';
import { outputLine, startGateway, type HttpFront } from '../../support/portico-gateway.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { decodeHello } from '../../support/link-frames.js';

/** A stack that never prints its ready line fails the hook instead of hanging the run. */
const START_TIMEOUT = { timeout: 30_000 };

/** What the flaky peer does with the next request that arrives on a connection already used once. */
type Trick = 'close-at-head' | 'close-at-body' | 'head-then-close';

interface FlakyPeer {
  connections: number;
  /** REQUEST_HEAD frames seen, on every connection. */
  heads: number;
  arm(trick: Trick): void;
  /** Resolves once `n` REQUEST_HEADs in all have arrived. */
  headsSeen(n: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * A native-link worker that answers `ok N` (N body bytes) to each request, except the one it was
 * armed for on a reused connection: it closes the connection when that request's head (or first
 * body frame) arrives, the worker's FIN crossing the gateway's request as after a restart, but
 * on cue instead of by timing luck.
 */
async function startFlakyPeer(path: string): Promise<FlakyPeer> {
  let armed: Trick | null = null;
  const waiters: Array<{ n: number; resolve(): void }> = [];
  const server = createServer((socket) => {
    peer.connections++;
    socket.on('error', () => {});
    let hello: Buffer | null = Buffer.alloc(0);
    let requestsHere = 0;
    let trick: Trick | null = null;
    let bodyBytes = 0;
    const w = new StreamFrameWriter(socket);
    const frames = new FrameDecoder(
      {
        onFrame(type, payload, id) {
          if (type === FrameType.RequestHead) {
            peer.heads++;
            for (const w of waiters.filter((w) => peer.heads >= w.n)) w.resolve();
            bodyBytes = 0;
            trick = ++requestsHere > 1 ? armed : null;
            if (trick) armed = null;
            if (trick === 'close-at-head') socket.destroy();
            if (trick === 'head-then-close') {
              queueStreamResponseHead(w, id, { status: 200, reason: 'OK', headers: [] });
              w.flush();
              socket.end();
            }
          } else if (type === FrameType.RequestBody) {
            bodyBytes += payload.length;
            if (trick === 'close-at-body') socket.destroy();
          } else if (type === FrameType.RequestEnd) {
            queueStreamResponseHead(w, id, { status: 200, reason: 'OK', headers: ['content-type', 'text/plain'] });
            w.body(FrameType.ResponseBody, id, `ok ${bodyBytes}`);
            w.frame(FrameType.ResponseEnd, id);
          }
        },
        onError: () => socket.destroy(),
      },
      { side: 'worker' },
    );
    socket.on('data', (chunk: Buffer) => {
      if (!hello) return frames.push(chunk);
      hello = Buffer.concat([hello, chunk]);
      const got = decodeHello(hello);
      if (!got) return;
      socket.write(acceptHello(got.hello));
      const rest = hello.subarray(got.size);
      hello = null;
      if (rest.length > 0) frames.push(rest);
    });
  });
  const peer: FlakyPeer = {
    connections: 0,
    heads: 0,
    arm: (trick) => void (armed = trick),
    headsSeen: (n) => new Promise<void>((resolve) => (peer.heads >= n ? resolve() : waiters.push({ n, resolve }))),
    close: () => closeServer(server),
  };
  server.listen(path);
  await once(server, 'listening');
  return peer;
}

/** A peer that answers every HELLO with `answer` and closes: a worker of another link version. */
async function startCanned(path: string, answer: Buffer): Promise<{ close(): Promise<void> }> {
  const server = createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => socket.end(answer));
  });
  server.listen(path);
  await once(server, 'listening');
  return { close: () => closeServer(server) };
}

/** A server that is no portico worker: it reads the HELLO and closes, as uWSGI does on modifier1 77. */
async function startRefuser(path: string): Promise<{ connections: number; close(): Promise<void> }> {
  const server = createServer((socket) => {
    state.connections++;
    socket.on('error', () => {});
    socket.once('data', () => socket.end());
  });
  const state = { connections: 0, close: () => closeServer(server) };
  server.listen(path);
  await once(server, 'listening');
  return state;
}

function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => server.close(() => resolve()));
}

async function text(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

describe('a pooled native connection the worker closed just as a request went out', { timeout: 60_000 }, () => {
  let tmp: ReturnType<typeof makeTmpDir> | undefined;
  let peer: FlakyPeer | undefined;
  let gateway: HttpFront | undefined;

  before(async () => {
    tmp = makeTmpDir('gateway-native-reuse');
    const sock = join(tmp.path, 'flaky.sock');
    peer = await startFlakyPeer(sock);
    gateway = await startGateway([`portico://unix:${sock}`]);
  }, START_TIMEOUT);

  after(async () => {
    await gateway?.stop();
    await peer?.close();
    tmp?.cleanup();
  });

  /** One ordinary request, so the gateway holds an open link the next request reuses. */
  async function warmUp(): Promise<void> {
    const res = await fetch(`${gateway!.url}/warm-up`);
    assert.equal(await res.text(), 'ok 0');
  }

  test('a GET closed at its head is sent again on a new connection: 200', async () => {
    await warmUp();
    const { connections, heads } = peer!;
    peer!.arm('close-at-head');
    const res = await fetch(`${gateway!.url}/again`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'ok 0');
    assert.equal(peer!.connections, connections + 1, 'one new connection for the retry');
    assert.equal(peer!.heads, heads + 2, 'the request went out twice');
    await outputLine(gateway!.proc, /native link \S+flaky\.sock: GET \/again was not taken by the worker \(it closed the connection, or is stopping\); sending it again/);
    assert.doesNotMatch(gateway!.proc.output(), /PORTICO_ERR_/);
  });

  test('a PUT whose body the client has not sent yet is sent again, and its body follows on the new connection', async () => {
    await warmUp();
    const { connections, heads } = peer!;
    peer!.arm('close-at-head');
    const req = httpRequest(`${gateway!.url}/upload`, { method: 'PUT', agent: false, headers: { 'content-length': '12' } });
    const response = once(req, 'response') as Promise<[IncomingMessage]>;
    req.flushHeaders();
    // The body leaves the client only once the retried head reached the worker.
    const first = await Promise.race([peer!.headsSeen(heads + 2).then(() => 'sent again'), response.then(() => 'answered')]);
    assert.equal(first, 'sent again', 'the gateway answered without sending the request again');
    req.end('twelve bytes');
    const [res] = await response;
    assert.equal(res.statusCode, 200);
    assert.equal(await text(res), 'ok 12');
    assert.equal(peer!.connections, connections + 1);
  });

  test('a POST is never sent again (the worker may have run it before it died): 502', async () => {
    await warmUp();
    const { connections, heads } = peer!;
    peer!.arm('close-at-head');
    const res = await fetch(`${gateway!.url}/post-once`, { method: 'POST', body: 'x' });
    assert.equal(res.status, 502);
    assert.equal(await res.text(), '502 PORTICO_ERR_UPSTREAM_ABORTED\n');
    assert.equal(peer!.connections, connections, 'no retry');
    assert.equal(peer!.heads, heads + 1);
  });

  test('a PUT whose first body bytes already went out is not sent again: 502', async () => {
    await warmUp();
    const { connections, heads } = peer!;
    peer!.arm('close-at-body');
    const req = httpRequest(`${gateway!.url}/upload-late`, { method: 'PUT', agent: false, headers: { 'content-length': '12' } });
    req.on('error', () => {});
    const response = once(req, 'response') as Promise<[IncomingMessage]>;
    req.write('twelve');
    const [res] = await response;
    assert.equal(res.statusCode, 502);
    assert.equal(await text(res), '502 PORTICO_ERR_UPSTREAM_ABORTED\n');
    req.destroy();
    assert.equal(peer!.connections, connections, 'no retry');
    assert.equal(peer!.heads, heads + 1);
  });

  test('a response head already came: not sent again, the client sees an aborted response', async () => {
    await warmUp();
    const { connections, heads } = peer!;
    peer!.arm('head-then-close');
    await assert.rejects(async () => {
      const res = await fetch(`${gateway!.url}/half`);
      await res.arrayBuffer();
    }, 'the response ended as if complete although the worker closed after its head');
    await outputLine(gateway!.proc, /PORTICO_ERR_UPSTREAM_ABORTED: GET \/half via \S+flaky\.sock: .*client connection aborted/);
    assert.equal(peer!.connections, connections, 'no retry');
    assert.equal(peer!.heads, heads + 1);
  });
});

describe('a portico:// upstream that refuses the handshake is skipped for a backoff', { timeout: 60_000 }, () => {
  let tmp: ReturnType<typeof makeTmpDir> | undefined;
  let worker: Started | undefined;
  let refuser: Awaited<ReturnType<typeof startRefuser>> | undefined;
  let gateway: HttpFront | undefined;
  let refuserSock = '';

  before(async () => {
    tmp = makeTmpDir('gateway-native-backoff');
    refuserSock = join(tmp.path, 'refuser.sock');
    const live = join(tmp.path, 'live.sock');
    // One after the other: a worker that fails to start must not leave the refuser unclosed (a hung run).
    refuser = await startRefuser(refuserSock);
    worker = await startWorker(join(fixturesDir, 'gateway-app.mjs'), live);
    gateway = await startGateway([`portico://unix:${refuserSock}`, `portico://unix:${live}`]);
  }, START_TIMEOUT);

  after(async () => {
    await gateway?.stop();
    await worker?.stop();
    await refuser?.close();
    tmp?.cleanup();
  });

  test('every request gets 200 from the worker; the refusing socket is connected to once, and logged once', async () => {
    // Sequential first (the round-robin start lands on the refuser within two), then concurrent.
    for (let i = 0; i < 10; i++) {
      const res = await fetch(`${gateway!.url}/any?i=${i}`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'ok');
    }
    const burst = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const res = await fetch(`${gateway!.url}/any?burst=${i}`);
        return `${res.status} ${await res.text()}`;
      }),
    );
    assert.deepEqual(new Set(burst), new Set(['200 ok']));
    assert.equal(refuser!.connections, 1);
    const notices = gateway!.proc.output().match(/native link \S+refuser\.sock: PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL: .*; skipping this upstream for 10 s/g) ?? [];
    assert.equal(notices.length, 1, gateway!.proc.output());
  });

  test('the pool: a refused handshake (also by a worker of link version 1) backs off until the period ends; a refused connect never does', async () => {
    const warnings: string[] = [];
    const log = { warn: (m: string) => void warnings.push(m) };
    const before = refuser!.connections;
    const pool = new NativeLinkPool(parseUpstream(`portico://unix:${refuserSock}`), 5_000, 1, 20);
    const code = (p: Promise<unknown>): Promise<string> =>
      p.then(
        () => 'acquired',
        (err: PorticoError) => err.code,
      );
    // The refuser hangs up on the HELLO without a byte, as uWSGI does.
    assert.equal(await code(pool.acquire(false, log)), 'PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL');
    assert.equal(await code(pool.acquire(true, log)), 'PORTICO_ERR_UPSTREAM_BACKOFF');
    assert.equal(refuser!.connections, before + 1, 'skipped without connecting');
    assert.equal(warnings.length, 1);
    // The backoff is wall-clock time (Date.now), so only waiting past it can end it.
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(await code(pool.acquire(false, log)), 'PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL');
    assert.equal(refuser!.connections, before + 2);
    assert.equal(warnings.length, 2);

    // A worker of link version 1: it refuses PORTICO_LINK 2 (its own refusal, in its words), or
    // (a build that took any HELLO) accepts in version 1's ACK layout, u8 0 and no link version.
    const frame = (payload: Buffer): Buffer => {
      const header = Buffer.from([FrameType.HelloAck, 0, 0, 0, 0]);
      header.writeUInt32LE(payload.length, 1);
      return Buffer.concat([header, payload]);
    };
    const refusal = Buffer.concat([Buffer.from([1, 28]), Buffer.from('PORTICO_ERR_NATIVE_HANDSHAKE'), Buffer.from('link version 2; this worker speaks 1')]);
    const v1ack = Buffer.concat([Buffer.from([0, 1, 0]), Buffer.from(HEAD_SCHEMAS.current.fingerprint, 'hex'), Buffer.from(HEAD_SCHEMAS.current.canonicalJson)]);
    for (const [name, payload, detail] of [
      ['refusing', refusal, /worker refused the link \(PORTICO_ERR_NATIVE_HANDSHAKE\): link version 2; this worker speaks 1/],
      ['accepting', v1ack, /accepted at link version 1/],
    ] as const) {
      const sock = join(tmp!.path, `v1-${name}.sock`);
      const peer = await startCanned(sock, frame(payload));
      const v1pool = new NativeLinkPool(parseUpstream(`portico://unix:${sock}`), 5_000, 1, 60_000);
      await assert.rejects(v1pool.acquire(false, log), (err: unknown) => isPorticoError(err) && err.code === 'PORTICO_ERR_NATIVE_HANDSHAKE' && detail.test(err.message));
      assert.equal(await code(v1pool.acquire(false, log)), 'PORTICO_ERR_UPSTREAM_BACKOFF', `${name}: backed off`);
      await peer.close();
    }
    assert.equal(warnings.length, 4);

    const nobody = new NativeLinkPool(parseUpstream(`portico://unix:${join(tmp!.path, 'nobody-here.sock')}`), 5_000, 1, 60_000);
    for (let i = 0; i < 3; i++) assert.equal(await code(nobody.acquire(false, log)), 'PORTICO_ERR_UPSTREAM_CONNECT');
    assert.equal(warnings.length, 4);
  });
});
