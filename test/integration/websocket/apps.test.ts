// WebSockets in each app API (issue 14): a fetch app with upgradeWebSocket(request) in Deno's
// shape (portico/websocket), a Hono fetch app with Hono's helper on it (portico/hono), and a Hono
// app exported as an http.Server by @hono/node-server with that package's own helper, unchanged.
// Each through portico serve (the connection handed to the worker), portico gateway -> portico://
// (a native-link stream) and nginx uwsgi_pass (the uwsgi connection): greeting, text and binary
// echo, close codes both ways, a refusal sent as the app wrote it; the fetch app also chooses a
// subprotocol, and a fetch app that ignores the handshake answers 501, never its GET.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { outputLine, type Started } from '../../../support/child-process.js';
import { startNginx } from '../../../support/nginx.js';
import { fixturesDir } from '../../../support/paths.js';
import { startGateway, startServe } from '../../support/portico-gateway.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

interface Front {
  url: string;
  appLog: Started;
  stop(): Promise<void>;
}

async function open(url: string, protocols?: string[]): Promise<{ ws: WebSocket; next: () => Promise<{ data: Buffer; binary: boolean }> }> {
  const ws = new WebSocket(url, protocols);
  const queue: Array<{ data: Buffer; binary: boolean }> = [];
  let wake: (() => void) | null = null;
  ws.on('message', (data: Buffer, binary: boolean) => {
    queue.push({ data, binary });
    wake?.();
  });
  await once(ws, 'open');
  const next = async (): Promise<{ data: Buffer; binary: boolean }> => {
    while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    return queue.shift()!;
  };
  return { ws, next };
}

async function refusal(url: string): Promise<{ status: number; body: string }> {
  const ws = new WebSocket(url);
  ws.on('error', () => {});
  const [, res] = (await once(ws, 'unexpected-response')) as [unknown, NodeJS.ReadableStream & { statusCode: number }];
  let body = '';
  for await (const chunk of res) body += String(chunk);
  ws.terminate();
  return { status: res.statusCode, body };
}

const fronts: Record<string, (app: string, dir: string) => Promise<Front>> = {
  'portico serve': async (app) => {
    const serve = await startServe(app);
    return { url: serve.url, appLog: serve.proc, stop: () => serve.stop() };
  },
  'portico gateway -> portico://': async (app, dir) => {
    const sock = join(dir, 'native.sock');
    const worker = await startWorker(app, sock);
    const gateway = await startGateway([`portico://unix:${sock}`]);
    return {
      url: gateway.url,
      appLog: worker,
      stop: async () => {
        await gateway.stop();
        await worker.stop();
      },
    };
  },
  'nginx uwsgi_pass': async (app, dir) => {
    const sock = join(dir, 'uwsgi.sock');
    const worker = await startWorker(app, sock, ['--chmod-socket', '666']);
    const nginx = await startNginx(join(dir, 'nginx'), sock);
    return {
      url: nginx.url,
      appLog: worker,
      stop: async () => {
        await nginx.stop();
        await worker.stop();
      },
    };
  },
};

/** Each app, and the body of its refusal: @hono/node-server answers a refused handshake with its status and no body, run directly as under portico. */
const apps: Record<string, [string, string]> = {
  'a fetch app (upgradeWebSocket)': ['ws-fetch-app.mjs', 'not here'],
  'a Hono fetch app (portico/hono)': ['ws-hono-fetch-app.mjs', 'not here'],
  'a Hono node app (@hono/node-server)': ['ws-hono-node-app.mjs', ''],
};

for (const [appName, [file, refusedBody]] of Object.entries(apps)) {
  describe(`WebSockets in ${appName}`, { timeout: 60_000 }, () => {
    const tmp = makeTmpDir('websocket-apps');
    const started: Front[] = [];
    let byFront: Record<string, Front> = {};

    before(async () => {
      const entries = await Promise.all(
        Object.entries(fronts).map(async ([name, start]) => {
          const dir = join(tmp.path, name.replace(/\W+/g, '-'));
          mkdirSync(dir);
          const front = await start(join(fixturesDir, file), dir);
          started.push(front);
          return [name, front] as const;
        }),
      );
      byFront = Object.fromEntries(entries);
    });

    after(async () => {
      await Promise.all(started.map((f) => f.stop()));
      tmp.cleanup();
    });

    for (const frontName of Object.keys(fronts)) {
      test(`through ${frontName}: greeting, text and binary echo, close codes both ways, a refusal as the app wrote it`, async () => {
        const front = byFront[frontName]!;
        const url = front.url.replace(/^http/, 'ws');
        const c = await open(`${url}/room`);
        assert.equal((await c.next()).data.toString(), 'hello /room');
        c.ws.send('text message');
        const text = await c.next();
        assert.deepEqual([text.data.toString(), text.binary], ['text message', false]);
        const bytes = randomBytes(200_000);
        c.ws.send(bytes);
        const binary = await c.next();
        assert.equal(binary.binary, true);
        assert.ok(binary.data.equals(bytes));
        c.ws.close(4002, 'client bye');
        assert.equal(((await once(c.ws, 'close')) as [number])[0], 4002);
        await outputLine(front.appLog, /app saw close 4002/);
        const s = await open(`${url}/closing`);
        await s.next();
        s.ws.send('close-me');
        const [code, reason] = (await once(s.ws, 'close')) as [number, Buffer];
        assert.deepEqual([code, reason.toString()], [4001, 'bye']);
        assert.deepEqual(await refusal(`${url}/refuse`), { status: 403, body: refusedBody });
        const plain = await fetch(`${front.url}/plain`);
        assert.equal(await plain.text(), 'plain /plain');
      });
    }

    if (file === 'ws-fetch-app.mjs') {
      test('the fetch app accepts the subprotocol it chose', async () => {
        const c = await open(`${byFront['portico serve']!.url.replace(/^http/, 'ws')}/proto`, ['other', 'chat']);
        assert.equal(c.ws.protocol, 'chat');
        assert.equal((await c.next()).data.toString(), 'hello /proto chat');
        c.ws.close();
      });
    }
  });
}

describe('a fetch app that does not take the handshake', () => {
  test('answers 501 PORTICO_ERR_UPGRADE_UNSUPPORTED with the fix, never the GET it would answer', async () => {
    const serve = await startServe(join(fixturesDir, 'connection-app.mjs'));
    try {
      assert.equal((await refusal(`${serve.url.replace(/^http/, 'ws')}/fixed`)).status, 501);
      await outputLine(serve.proc, /PORTICO_ERR_UPGRADE_UNSUPPORTED: GET \/fixed: .*answered a WebSocket handshake with 200, not an upgrade: take it with upgradeWebSocket\(request\)/);
    } finally {
      await serve.stop();
    }
  });
});
