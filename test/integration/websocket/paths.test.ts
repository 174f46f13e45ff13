// WebSockets on every path a deployment uses (issue 14), the same checks on each: messages of 1
// byte to 16 MiB (each of ws's three length encodings, text and binary), ping/pong, close codes
// both ways; 1,000 connections at once; a client that stops reading while the app sends 64 MiB holds back the app, never
// the hops' memory; a chain reload with 100 connections open drops none of them, new ones go to
// the new worker, and the old one leaves once its connections close. The paths:
//   portico serve                      the gateway hands the connection to the worker (IPC)
//   portico gateway -> portico://      one stream of the native link carries it both ways
//   nginx uwsgi_pass -> portico worker the uwsgi connection itself, as with uWSGI's websockets
//   nginx proxy_pass -> portico serve  the shipped gateway locations and upgrade map
// Real nginx, ws's client and server (test/fixtures/ws-server-app.mjs).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { outputLine, type Started } from '../../../support/child-process.js';
import { GATEWAY_SITE, startNginx, type Nginx } from '../../../support/nginx.js';
import { fixturesDir } from '../../../support/paths.js';
import { startGateway, startServe, type HttpFront } from '../../support/portico-gateway.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

const APP = join(fixturesDir, 'ws-server-app.mjs');
const MiB = 1024 * 1024;

interface Client {
  ws: WebSocket;
  next: () => Promise<Buffer>;
}

/** Opens a ws client and collects what it receives, in order. */
async function open(url: string): Promise<Client> {
  const ws = new WebSocket(url, { maxPayload: 64 * MiB });
  const queue: Buffer[] = [];
  let wake: (() => void) | null = null;
  ws.on('message', (data: Buffer) => {
    queue.push(data);
    wake?.();
  });
  await once(ws, 'open');
  const next = async (): Promise<Buffer> => {
    while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    return queue.shift()!;
  };
  return { ws, next };
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A path: where clients connect, the process that logs the app's lines, the master a reload goes to. */
interface Path {
  url: string;
  appLog: Started;
  master: Started;
  stop(): Promise<void>;
}

const paths: Record<string, (dir: string) => Promise<Path>> = {
  'portico serve': async () => {
    const serve = await startServe(APP);
    return { url: serve.url, appLog: serve.proc, master: serve.proc, stop: () => serve.stop() };
  },
  'portico gateway -> portico:// worker': async (dir) => {
    const sock = join(dir, 'worker.sock');
    const worker = await startWorker(APP, sock, ['--processes', '1']);
    const gateway = await startGateway([`portico://unix:${sock}`]);
    return {
      url: gateway.url,
      appLog: worker,
      master: worker,
      stop: async () => {
        await gateway.stop();
        await worker.stop();
      },
    };
  },
  'nginx uwsgi_pass -> portico worker': async (dir) => {
    const sock = join(dir, 'worker.sock');
    const worker = await startWorker(APP, sock, ['--processes', '1', '--chmod-socket', '666']);
    const nginx = await startNginx(join(dir, 'nginx'), sock);
    return {
      url: nginx.url,
      appLog: worker,
      master: worker,
      stop: async () => {
        await nginx.stop();
        await worker.stop();
      },
    };
  },
  'nginx proxy_pass -> portico serve': async (dir) => {
    const serve: HttpFront = await startServe(APP);
    const nginx: Nginx = await startNginx(join(dir, 'nginx'), `127.0.0.1:${serve.port}`, '', GATEWAY_SITE);
    return {
      url: nginx.url,
      appLog: serve.proc,
      master: serve.proc,
      stop: async () => {
        await nginx.stop();
        await serve.stop();
      },
    };
  },
};

for (const [name, start] of Object.entries(paths)) {
  describe(`WebSockets through ${name}`, { timeout: 120_000 }, () => {
    const tmp = makeTmpDir('websocket-paths');
    let path: Path | undefined;
    let wsUrl = '';

    before(async () => {
      path = await start(tmp.path);
      wsUrl = path.url.replace(/^http/, 'ws');
    });

    after(async () => {
      await path?.stop();
      tmp.cleanup();
    });

    test('messages of 1 byte to 16 MiB, text and binary, come back whole; ping gets its pong; close codes pass both ways', async () => {
      const c = await open(`${wsUrl}/sizes`);
      assert.equal((await c.next()).toString(), `hello /sizes${name.startsWith('nginx proxy_pass') ? ' http' : ''}`);
      for (const size of [1, 125, 126, 65_535, 65_536, 16 * MiB]) {
        const binary = randomBytes(size);
        c.ws.send(binary);
        assert.equal(sha(await c.next()), sha(binary), `${size} bytes, binary`);
      }
      for (const size of [1, 16 * MiB]) {
        const text = 'é'.repeat(size >> 1) + (size % 2 === 1 ? 'x' : '');
        c.ws.send(text);
        assert.equal((await c.next()).toString(), text, `${size} bytes, text`);
      }
      c.ws.ping(Buffer.from('are you there'));
      const [pong] = (await once(c.ws, 'pong')) as [Buffer];
      assert.equal(pong.toString(), 'are you there');
      // The client closes: the app sees its code.
      c.ws.close(4002, 'client bye');
      const [code] = (await once(c.ws, 'close')) as [number];
      assert.equal(code, 4002);
      await outputLine(path!.appLog, /app saw close 4002/);
      // The app closes: the client sees its code and reason.
      const s = await open(`${wsUrl}/server-closes`);
      await s.next();
      s.ws.send('close-me');
      const [serverCode, reason] = (await once(s.ws, 'close')) as [number, Buffer];
      assert.deepEqual([serverCode, reason.toString()], [4001, 'bye']);
    });

    test('a client that stops reading while the app sends 64 MiB holds back only the app, and gets every byte once it reads', async () => {
      const slow = await open(`${wsUrl}/flood`);
      await slow.next();
      slow.ws.pause();
      slow.ws.send('flood 64');
      // Another connection is served meanwhile, and asks how much the app still holds unsent.
      const other = await open(`${wsUrl}/other`);
      await other.next();
      other.ws.send('report');
      const buffered = Number((await other.next()).toString().split(' ')[1]);
      // What left the app sits in socket buffers and at most a window in each hop: far from 64 MiB.
      assert.ok(buffered > 32 * MiB, `the app holds only ${buffered} bytes: the hops took the rest`);
      other.ws.close();
      slow.ws.resume();
      let got = 0;
      while (got < 64 * MiB) got += (await slow.next()).length;
      assert.equal(got, 64 * MiB);
      slow.ws.close();
    });

    test('1,000 connections at once: every one is greeted and echoes', async () => {
      const clients: Client[] = [];
      try {
        // In batches of 100: a thousand handshakes at once only measure the machine's load.
        for (let i = 0; i < 1000; i += 100) clients.push(...(await Promise.all(Array.from({ length: 100 }, () => open(`${wsUrl}/many`)))));
        await Promise.all(
          clients.map(async (c, i) => {
            await c.next();
            c.ws.send(`n${i}`);
            assert.equal((await c.next()).toString(), `n${i}`);
          }),
        );
      } finally {
        const closes = clients.map((c) => once(c.ws, 'close'));
        for (const c of clients) c.ws.close(1000);
        await Promise.all(closes);
      }
    });

    test('a chain reload with 100 connections open drops none; new connections go to the new worker; the old one leaves once they close', async () => {
      const clients = await Promise.all(Array.from({ length: 100 }, () => open(`${wsUrl}/held`)));
      const pids = await Promise.all(
        clients.map(async (c) => {
          await c.next();
          c.ws.send('pid');
          return (await c.next()).toString();
        }),
      );
      const old = new Set(pids);
      assert.equal(old.size, 1);
      const [oldPid] = [...old].map((p) => p.split(' ')[1]!);
      path!.master.child.kill('SIGHUP');
      // The old worker says so once its replacement serves and it stopped taking new connections.
      await outputLine(path!.master, /waiting for \d+ request\(s\) to finish/);
      const fresh = await open(`${wsUrl}/fresh`);
      await fresh.next();
      fresh.ws.send('pid');
      assert.notEqual((await fresh.next()).toString(), `pid ${oldPid}`);
      fresh.ws.close();
      // Every old connection is still open and served by the old worker.
      await Promise.all(
        clients.map(async (c, i) => {
          c.ws.send(`still ${i}`);
          assert.equal((await c.next()).toString(), `still ${i}`);
        }),
      );
      const closes = clients.map((c) => once(c.ws, 'close'));
      for (const c of clients) c.ws.close(1000);
      for (const [code] of (await Promise.all(closes)) as Array<[number]>) assert.equal(code, 1000);
      await outputLine(path!.master, new RegExp(`worker \\d+ \\(pid: ${oldPid}\\) exited \\(reload\\)`));
      await outputLine(path!.master, /chain reload done/);
    });
  });
}
