// Version 2 of the native link through the real gateway: one connection carries the requests of
// many clients at once; a client that stops reading a large download holds back only its own
// stream (windows), not the others on the link; and a worker's GOAWAY sends the streams it never
// took to a new connection, whatever their method.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FrameDecoder, FrameType, StreamFrameWriter, acceptHello, decodeRequestHead, queueStreamResponseHead } from '../../../protocol/link/index.js';
import type { Started } from '../../../support/child-process.js';
import { fixturesDir } from '../../../support/paths.js';
import { outputLine, startGateway, type HttpFront } from '../../support/portico-gateway.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { decodeHello } from '../../support/link-frames.js';

const START_TIMEOUT = { timeout: 30_000 };

/** A unix-socket relay in front of a worker that counts the connections made through it. */
async function countingRelay(path: string, target: string): Promise<{ connections: number; close(): Promise<void> }> {
  const open = new Set<Socket>();
  const server = createServer((client) => {
    state.connections++;
    const upstream = connect(target);
    open.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  const state = {
    connections: 0,
    close: async () => {
      for (const s of open) s.destroy();
      await closeServer(server);
    },
  };
  server.listen(path);
  await once(server, 'listening');
  return state;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function get(url: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('native link through the gateway: one link, many streams', { timeout: 60_000 }, () => {
  let tmp: ReturnType<typeof makeTmpDir> | undefined;
  let worker: Started | undefined;
  let relay: Awaited<ReturnType<typeof countingRelay>> | undefined;
  let gateway: HttpFront | undefined;
  /** A second gateway allowed three links, through a relay of its own. */
  let relay3: Awaited<ReturnType<typeof countingRelay>> | undefined;
  let gateway3: HttpFront | undefined;

  before(async () => {
    tmp = makeTmpDir('gateway-native-streams');
    const sock = join(tmp.path, 'worker.sock');
    worker = await startWorker(join(fixturesDir, 'stream-app.mjs'), sock);
    relay = await countingRelay(join(tmp.path, 'relay.sock'), sock);
    gateway = await startGateway([`portico://unix:${join(tmp.path, 'relay.sock')}`], ['--upstream-links', '1']);
    relay3 = await countingRelay(join(tmp.path, 'relay3.sock'), sock);
    gateway3 = await startGateway([`portico://unix:${join(tmp.path, 'relay3.sock')}`], ['--upstream-links', '3']);
  }, START_TIMEOUT);

  after(async () => {
    await gateway?.stop();
    await gateway3?.stop();
    await relay?.close();
    await relay3?.close();
    await worker?.stop();
    tmp?.cleanup();
  });

  test('40 concurrent requests and uploads share one connection to the worker', async () => {
    const results = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const body = Buffer.alloc(i * 1000 + 1, 0x62);
        const res = await fetch(`${gateway!.url}/count`, { method: 'POST', body });
        return `${res.status} ${await res.text()} ${body.length}`;
      }),
    );
    for (const r of results) {
      const [status, counted, sent] = r.split(' ');
      assert.equal(status, '200');
      assert.equal(counted, sent, 'the worker counted every byte of the upload');
    }
    assert.equal(relay!.connections, 1, 'one link carried them all');
  });

  test('--upstream-links 3: bursts of requests open at most three links, one handshake at a time', async () => {
    for (let burst = 0; burst < 3; burst++) {
      const statuses = await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          const res = await fetch(`${gateway3!.url}/generate?bytes=${100 + i}`);
          return `${res.status} ${(await res.arrayBuffer()).byteLength - i}`;
        }),
      );
      assert.deepEqual(new Set(statuses), new Set(['200 100']));
    }
    assert.ok(relay3!.connections >= 1 && relay3!.connections <= 3, `${relay3!.connections} links`);
  });

  test('headers within the HTTP limits but past the 64 KiB vars block: 413, and the link serves on', async () => {
    const headers: Record<string, string> = {};
    for (let i = 0; i < 40; i++) headers[`x-filler-${i}`] = 'f'.repeat(2000);
    const res = await fetch(`${gateway!.url}/generate?bytes=10`, { headers });
    assert.equal(res.status, 413);
    assert.equal(await res.text(), '413 PORTICO_ERR_VARS_TOO_BIG\n');
    await outputLine(gateway!.proc, /PORTICO_ERR_VARS_TOO_BIG: GET \/generate\?bytes=10/);
    assert.deepEqual(await get(`${gateway!.url}/generate?bytes=10`), { status: 200, body: 'aaaaaaaaaa' });
  });

  test('a client that stops reading a 32 MiB download holds back its own stream only', async () => {
    const size = 32 * 1024 * 1024;
    const before = relay!.connections;
    // The download starts and its client reads nothing more after the head: the worker's window
    // for that stream runs out once the gateway's socket to the client backs up.
    const slow = await new Promise<IncomingMessage>((resolve, reject) => {
      httpRequest(`${gateway!.url}/generate?bytes=${size}`, { agent: false }, resolve).on('error', reject).end();
    });
    assert.equal(slow.statusCode, 200);
    slow.pause();
    // Meanwhile, the same link keeps serving everyone else.
    for (let i = 0; i < 30; i++) {
      const r = await get(`${gateway!.url}/generate?bytes=${1000 + i}`);
      assert.equal(r.status, 200);
      assert.equal(r.body.length, 1000 + i);
    }
    assert.equal(relay!.connections, before, 'still the one link');
    // Then the slow client reads everything, and it is all there.
    let got = 0;
    slow.on('data', (c: Buffer) => (got += c.length));
    slow.resume();
    await once(slow, 'end');
    assert.equal(got, size);
  });
});

/**
 * A worker made of the protocol modules, to say GOAWAY on cue: on its first connection
 * it answers the first stream, then answers the second stream's head with GOAWAY(first) and
 * closes; later connections answer every stream with `ok` and the stream's method.
 */
async function startGoAwayPeer(path: string): Promise<{ connections: number; heads: string[]; close(): Promise<void> }> {
  const server = createServer((socket) => {
    const connection = ++state.connections;
    socket.on('error', () => {});
    const writer = new StreamFrameWriter(socket);
    let hello: Buffer | null = Buffer.alloc(0);
    let answered = 0;
    const methods = new Map<number, string>();
    const paths = new Map<number, string>();
    const answer = (id: number): void => {
      const body = Buffer.from(`ok ${methods.get(id)} on ${connection}`);
      // A header no HTTP response may carry: what a broken or hostile worker could send.
      const extra = paths.get(id) === '/bad-head' ? ['x-bad', 'a\r\nb'] : [];
      queueStreamResponseHead(writer, id, { status: 200, reason: 'OK', headers: ['content-length', String(body.length), ...extra] });
      writer.body(FrameType.ResponseBody, id, body);
      writer.frame(FrameType.ResponseEnd, id);
    };
    const frames = new FrameDecoder(
      {
        onFrame(type, payload, id) {
          if (type === FrameType.RequestHead) {
            const vars = decodeRequestHead(payload).vars;
            const method = vars.get('REQUEST_METHOD') ?? '?';
            methods.set(id, method);
            paths.set(id, vars.get('REQUEST_URI') ?? '');
            state.heads.push(`${connection}:${id}:${method}`);
            if (connection === 1 && answered === 1) {
              writer.u32(FrameType.GoAway, 0, id - 1);
              writer.flush();
              socket.end();
            }
          } else if (type === FrameType.RequestEnd && !(connection === 1 && answered === 1)) {
            answered++;
            answer(id);
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
  const state = { connections: 0, heads: [] as string[], close: () => closeServer(server) };
  server.listen(path);
  await once(server, 'listening');
  return state;
}

describe('native link: a worker that says GOAWAY', { timeout: 60_000 }, () => {
  let tmp: ReturnType<typeof makeTmpDir> | undefined;
  let peer: Awaited<ReturnType<typeof startGoAwayPeer>> | undefined;
  let gateway: HttpFront | undefined;

  before(async () => {
    tmp = makeTmpDir('gateway-native-goaway');
    const sock = join(tmp.path, 'peer.sock');
    peer = await startGoAwayPeer(sock);
    gateway = await startGateway([`portico://unix:${sock}`], ['--upstream-links', '1']);
  }, START_TIMEOUT);

  after(async () => {
    await gateway?.stop();
    await peer?.close();
    tmp?.cleanup();
  });

  test('a stream above the GOAWAY id is sent again on a new connection, even a POST', async () => {
    assert.deepEqual(await get(`${gateway!.url}/first`), { status: 200, body: 'ok GET on 1' });
    // The second stream meets the GOAWAY: the worker never took it, so a POST is safe to send again.
    assert.deepEqual(await get(`${gateway!.url}/second`, 'POST'), { status: 200, body: 'ok POST on 2' });
    assert.equal(peer!.connections, 2);
    assert.deepEqual(peer!.heads, ['1:1:GET', '1:2:POST', '2:1:POST']);
    await outputLine(gateway!.proc, /native link \S+peer\.sock: POST \/second was not taken by the worker/);
  });

  test('a response head Node refuses to send (CR LF in a value): 502, and the link serves on', async () => {
    const bad = await get(`${gateway!.url}/bad-head`);
    assert.equal(bad.status, 502);
    assert.equal(bad.body, '502 PORTICO_ERR_BAD_RESPONSE\n');
    await outputLine(gateway!.proc, /PORTICO_ERR_BAD_RESPONSE: GET \/bad-head: .*response head was refused/);
    assert.deepEqual(await get(`${gateway!.url}/after`), { status: 200, body: 'ok GET on 2' });
    assert.equal(peer!.connections, 2, 'the same link');
  });
});
