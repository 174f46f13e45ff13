// `portico worker APP --http-socket ADDR` (uWSGI's --http-socket): each worker process runs the
// gateway's HTTP front on the master's shared socket and calls its app in the same process. Real
// clients (fetch, node:http, raw bytes, ws) against a fetch app under a master with two workers and
// an Express + ws node app under --no-master; the front's options (--static, a limit,
// --trusted-proxies) in the workers; a graceful stop; the option combinations that are refused.
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent, get as httpGet } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { outputLine, startProcess, type Started } from '../../../support/child-process.js';
import { freePort } from '../../../support/free-port.js';
import { fixturesDir, porticoBin } from '../../../support/paths.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { rawRequest } from '../../support/raw-http.js';

const run = promisify(execFile);

/** `portico worker APP --http-socket 127.0.0.1:PORT ...extra`, once it accepts. */
async function startHttpWorker(app: string, extra: string[]): Promise<{ proc: Started; base: string; port: number }> {
  const port = await freePort();
  const proc = startProcess(process.execPath, [porticoBin, 'worker', join(fixturesDir, app), '--http-socket', `127.0.0.1:${port}`, ...extra]);
  // Under a master its line comes once every worker's front listens; alone, the front's own.
  await outputLine(proc, extra.includes('--no-master') ? /portico worker \d+: http on \S+ -> the app in this process/ : /portico master \d+: \d+ worker\(s\) of .* accepting on /);
  return { proc, base: `http://127.0.0.1:${port}`, port };
}

/** GET over a connection of `agent` (a new one with agent: false): status, body, the client port. */
function getVia(base: string, path: string, agent: Agent | false): Promise<{ status: number; body: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    httpGet(`${base}${path}`, { agent }, (res) => {
      const localPort = res.socket.localPort!;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, localPort }));
    }).on('error', reject);
  });
}

/** Everything the server sends back to `text` on a new connection, until it closes. */
async function rawExchange(port: number, text: string): Promise<string> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.end(text);
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  await once(socket, 'close');
  return Buffer.concat(chunks).toString('latin1');
}

describe('portico worker --http-socket --processes 2, a fetch app', { timeout: 120_000 }, () => {
  const tmp = makeTmpDir('http-socket');
  const files = join(tmp.path, 'files');
  let w: Awaited<ReturnType<typeof startHttpWorker>>;
  before(async () => {
    mkdirSync(files);
    writeFileSync(join(files, 'hello.txt'), 'a static file\n');
    w = await startHttpWorker('http-socket-app.mjs', ['--processes', '2', '--static', `/s=${files}`, '--limit-request-line', '100', '--graceful-timeout', '2']);
  });
  after(async () => {
    await w?.proc.stop();
    tmp.cleanup();
  });

  it('GET answers 200 with the body; one keep-alive connection carries several requests', async () => {
    const res = await fetch(`${w.base}/pid`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /^\d+$/);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const answers = [];
      for (let i = 0; i < 3; i++) answers.push(await getVia(w.base, `/pid?n=${i}`, agent));
      for (const a of answers) assert.equal(a.status, 200);
      assert.equal(new Set(answers.map((a) => a.localPort)).size, 1, 'one connection');
      assert.equal(new Set(answers.map((a) => a.body)).size, 1, 'one worker behind one connection');
    } finally {
      agent.destroy();
    }
  });

  it('new connections reach both workers, and each worker logs its requests in uWSGI shape', async () => {
    const workers = [...w.proc.output().matchAll(/portico worker (\d+): fetch app .* on http /g)].map((m) => m[1]!);
    assert.equal(workers.length, 2, w.proc.output());
    // The kernel gives each connection to whichever worker accepts first: rounds of eight at once
    // reach both long before this bound.
    const seen = new Set<string>();
    for (let round = 0; round < 25 && seen.size < 2; round++) {
      const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => getVia(w.base, `/pid?round=${round}&i=${i}`, false)));
      for (const a of answers) seen.add(a.body);
    }
    assert.deepEqual([...seen].sort(), [...workers].sort());
    for (const pid of workers) {
      await outputLine(
        w.proc,
        new RegExp(
          `^\\[pid: ${pid}\\|app: 0\\|req: \\d+/\\d+\\] 127\\.0\\.0\\.1 \\(\\) \\{\\d+ vars in \\d+ bytes\\} \\[[^\\]]+\\] GET /pid\\?round=\\d+&i=\\d => generated \\d+ bytes in \\d+ msecs \\(HTTP/1\\.1 200\\) \\d+ headers in \\d+ bytes`,
          'm',
        ),
      );
    }
  });

  it('a 1 MiB body and a chunked one are echoed intact', async () => {
    const big = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 11)) & 0xff;
    const res = await fetch(`${w.base}/echo`, { method: 'POST', body: big });
    assert.equal(res.status, 200);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(big), '1 MiB echoed');
    // Pieces written one after another and no Content-Length: node:http sends them chunked.
    const pieces = [big.subarray(0, 70_000), big.subarray(70_000, 70_001), big.subarray(70_001, 200_000)];
    const chunked = await rawRequest(w.base, '/echo', { method: 'POST', body: pieces });
    assert.equal(chunked.status, 200);
    assert.ok(chunked.body.equals(big.subarray(0, 200_000)), 'chunked body echoed');
  });

  it('HEAD gets the head and no body; a 204 has none either', async () => {
    const head = await rawExchange(w.port, 'HEAD /pid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(head.endsWith('\r\n\r\n'), `nothing after the head:\n${head}`);
    const empty = await rawExchange(w.port, 'GET /empty HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(empty, /^HTTP\/1\.1 204 No Content\r\n/);
    assert.ok(empty.endsWith('\r\n\r\n'), `nothing after the head:\n${empty}`);
    assert.doesNotMatch(empty, /transfer-encoding|content-length/i);
  });

  it("--static serves a file from the worker's own front", async () => {
    const res = await fetch(`${w.base}/s/hello.txt`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'a static file\n');
    assert.equal((await fetch(`${w.base}/s/missing.txt`)).status, 404);
  });

  it("the front's limits apply: a request line over --limit-request-line 100 gets 414", async () => {
    const res = await fetch(`${w.base}/${'a'.repeat(120)}`);
    assert.equal(res.status, 414);
    await outputLine(w.proc, /PORTICO_ERR_REQUEST_LINE_TOO_LONG: GET \/a+: .*--limit-request-line 100/);
    // The next request is served as before.
    assert.equal((await fetch(`${w.base}/pid`)).status, 200);
  });

  // Last: it stops the suite's server.
  it('SIGTERM to the master: a request in flight ends 200, an open WebSocket gets 1001 after --graceful-timeout, the master exits 0', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${w.port}/ws`);
    await once(ws, 'open');
    const echoed = once(ws, 'message');
    ws.send('still here');
    assert.equal(String((await echoed)[0]), 'still here');
    const closed = once(ws, 'close');
    const pending = fetch(`${w.base}/hold`);
    await outputLine(w.proc, /app is holding a request in \d+/);
    w.proc.child.kill('SIGTERM');
    const res = await pending;
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'released');
    // Going away, as the worker says it once the timeout is over: not cut by the master (1006).
    const [code] = (await closed) as [number];
    assert.equal(code, 1001);
    assert.equal(await w.proc.stop(), 0);
    await outputLine(w.proc, /portico master \d+: stopped/);
  });
});

describe('portico worker --no-master --http-socket, an Express app with ws beside it', { timeout: 60_000 }, () => {
  let w: Awaited<ReturnType<typeof startHttpWorker>>;
  before(async () => {
    // Loopback is no trusted proxy here: the client's X-Forwarded-For must not become its address.
    w = await startHttpWorker('express-ws-app.mjs', ['--no-master', '--trusted-proxies', '10.0.0.0/8']);
  });
  after(async () => {
    if (w) assert.equal(await w.proc.stop(), 0);
  });

  it('answers with the status, headers and body Express wrote; X-Forwarded-For from a peer not in --trusted-proxies is not believed', async () => {
    const res = await fetch(`${w.base}/hello/ana?x=1`, { headers: { 'x-forwarded-for': '203.0.113.5' } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(res.headers.getSetCookie(), ['a=1; Path=/', 'b=2; Path=/']);
    assert.deepEqual(await res.json(), { name: 'ana', q: { x: '1' }, ip: '127.0.0.1', proto: 'http' });
    const posted = await fetch(`${w.base}/json`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"k":[1,2]}' });
    assert.equal(posted.status, 201);
    assert.deepEqual(await posted.json(), { got: { k: [1, 2] } });
  });

  it('a WebSocket upgrade reaches the app, which echoes text and binary messages', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${w.port}/chat`);
    await once(ws, 'open');
    const next = (): Promise<[Buffer, boolean]> => once(ws, 'message') as Promise<[Buffer, boolean]>;
    const text = next();
    ws.send('hi there');
    const [data, binary] = await text;
    assert.equal(binary, false);
    assert.equal(data.toString(), 'hi there');
    const bytes = Buffer.from([0, 1, 2, 255]);
    const echoed = next();
    ws.send(bytes);
    assert.deepEqual(await echoed, [bytes, true]);
    ws.close(1000);
    const [code] = (await once(ws, 'close')) as [number];
    assert.equal(code, 1000);
  });
});

describe('portico worker --http-socket: refused combinations', { timeout: 60_000 }, () => {
  const app = join(fixturesDir, 'http-socket-app.mjs');
  const cases: Array<[string[], RegExp]> = [
    [['--socket', '127.0.0.1:1', '--http-socket', '127.0.0.1:2'], /--http-socket and --socket are two ways to serve/],
    [['--socket', '127.0.0.1:1', '--static', '/s=/tmp'], /--static is a setting of the HTTP front: give --http-socket too/],
    [['--http-socket', '127.0.0.1:2', '--cheap'], /--cheap works with --socket only/],
    [['--http-socket', '127.0.0.1:2', '--accept-busy', '2'], /--accept-busy works with --socket only/],
  ];
  for (const [args, why] of cases) {
    it(args.join(' '), async () => {
      const err = (await run(process.execPath, [porticoBin, 'worker', app, ...args], { timeout: 10_000, killSignal: 'SIGKILL' }).then(
        () => assert.fail('portico exited 0'),
        (e: unknown) => e,
      )) as { code: number; stderr: string };
      assert.equal(err.code, 1);
      assert.doesNotMatch(err.stderr, /^\s+at /m, `a stack trace:\n${err.stderr}`);
      const lines = err.stderr.split('\n').filter((l) => l.includes('PORTICO_ERR_INVALID_OPTION'));
      assert.equal(lines.length, 1, err.stderr);
      assert.match(lines[0]!, why);
    });
  }
});
