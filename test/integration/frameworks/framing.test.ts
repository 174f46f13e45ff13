// Apps that frame their own responses, and the scheme behind TLS, on every path (issue: real Node
// apps). Hono's streamSSE and streamText, @hono/node-server's listener and a raw
// `res.writeHead(200, { 'Transfer-Encoding': 'chunked' })` set Transfer-Encoding themselves; the
// link frames the body (worker/exchange/response-head.ts linkHeaders), so each client gets the exact body
// bytes, and an event stream arrives event by event: the app sends its second event only after
// the client, having read the first, asks for /release. Express behind nginx's TLS sees https.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../../../support/free-port.js';
import { fourPathsMissing, PATHS, startFourPaths } from '../../support/four-paths.js';
import { GATEWAY_SITE, startNginx } from '../../../support/nginx.js';
import { fixturesDir } from '../../../support/paths.js';
import { startServe } from '../../support/portico-gateway.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { needPeer, nginxMissing } from '../../support/peers.js';

const APPS = join(fixturesDir, 'frameworks');

/** GET `path`: resolves with the response once its head is in, the body still streaming. */
function open(base: string, path: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, { agent: false }, resolve);
    req.on('error', reject);
    req.end();
  });
}

/** Reads until `until` says so (or the end), leaving the rest of the body for a later read. */
function read(res: IncomingMessage, until: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    res.setEncoding('utf8');
    const done = (): void => {
      res.off('data', onData);
      res.off('end', onEnd);
      res.off('error', onError);
      res.pause();
    };
    const onData = (chunk: string): void => {
      text += chunk;
      if (!until(text)) return;
      done();
      resolve(text);
    };
    const onEnd = (): void => {
      done();
      resolve(text);
    };
    const onError = (err: Error): void => {
      done();
      reject(err);
    };
    res.on('data', onData);
    res.on('end', onEnd);
    res.on('error', onError);
    res.resume();
  });
}

async function get(base: string, path: string): Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> {
  const res = await open(base, path);
  const body = await read(res, () => false);
  return { status: res.statusCode ?? 0, headers: res.headers, body };
}

/** The event stream on `base`: the first event alone, then the second once released. */
async function eventByEvent(base: string, path: string, releasePath: string): Promise<void> {
  const res = await open(base, path);
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^text\/event-stream/);
  const first = await read(res, (t) => t.includes('\n\n'));
  assert.equal(first, 'event: first\ndata: one\n\n');
  assert.equal((await get(base, releasePath)).body, 'released');
  const rest = await read(res, () => false);
  assert.equal(rest, 'event: second\ndata: two\n\n');
}

/** Every case, on one stack in front of the fetch-kind Hono app and one in front of the node-kind app. */
function framingCases(path: string, hono: () => string, node: () => string): void {
  test(`${path}: Hono streamSSE (fetch kind) arrives event by event`, () => eventByEvent(hono(), '/sse', '/release'));
  test(`${path}: Hono streamText: the exact body, no chunk framing in it`, async () => {
    const res = await get(hono(), '/text');
    assert.equal(res.status, 200);
    assert.equal(res.body, 'hello streamed text');
  });
  test(`${path}: @hono/node-server's listener (node kind) streams its SSE event by event`, () => eventByEvent(node(), '/sse', '/release'));
  test(`${path}: res.writeHead(200, { 'Transfer-Encoding': 'chunked' }) arrives event by event, unframed`, () => eventByEvent(node(), '/raw-sse', '/raw-release'));
}

describe('apps that frame their own responses, on every path', { skip: needPeer(fourPathsMissing()), timeout: 120_000 }, () => {
  const tmp = makeTmpDir('framing');
  const stop: Array<() => Promise<unknown>> = [];
  const bases: Record<string, { hono: string; node: string }> = {};

  before(async () => {
    const [hono, node] = await Promise.all([join(APPS, 'hono-app.mjs'), join(APPS, 'node-stream-app.mjs')].map((app) => startFourPaths(tmp.path, app, stop)));
    for (const [name] of PATHS) bases[name] = { hono: hono![name], node: node![name] };
  });

  after(async () => {
    for (const s of stop.reverse()) await s();
    tmp.cleanup();
  });

  for (const [name, words] of PATHS)
    framingCases(
      words,
      () => bases[name]!.hono,
      () => bases[name]!.node,
    );
});

describe('behind TLS: every kind sees https', { skip: needPeer(nginxMissing()), timeout: 60_000 }, () => {
  const tmp = makeTmpDir('tls');
  const stop: Array<() => Promise<unknown>> = [];
  let cert: Buffer;
  let tlsPort = 0;
  let tlsGatewayPort = 0;
  let tlsHonoPort = 0;

  /** A GET over TLS to nginx, trusting the throwaway certificate made for this test. */
  function tlsGet(port: number, path: string): Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port, path, ca: cert, servername: 'localhost', agent: false }, (res) => {
        void read(res, () => false).then((body) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }), reject);
      });
      req.on('error', reject);
      req.end();
    });
  }

  before(async () => {
    const key = join(tmp.path, 'key.pem');
    const crt = join(tmp.path, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], {
      stdio: 'ignore',
    });
    const { readFileSync, chmodSync } = await import('node:fs');
    chmodSync(key, 0o644);
    cert = readFileSync(crt);
    const tls = (port: number): string => `listen 127.0.0.1:${port} ssl; ssl_certificate ${crt}; ssl_certificate_key ${key};`;
    // Express behind nginx TLS + uwsgi_pass (the uwsgi link).
    const sock = join(tmp.path, 'express.sock');
    const worker = await startWorker(join(APPS, 'express-secure-app.mjs'), sock, ['--chmod-socket', '666']);
    stop.push(() => worker.stop());
    tlsPort = await freePort();
    const ng = await startNginx(tmp.path, sock, tls(tlsPort));
    stop.push(() => ng.stop());
    // Express behind nginx TLS + proxy_pass → portico serve (the native link; X-Forwarded-Proto
    // from nginx on loopback, a trusted proxy by default).
    const serve = await startServe(join(APPS, 'express-secure-app.mjs'));
    stop.push(() => serve.stop());
    tlsGatewayPort = await freePort();
    const pg = await startNginx(tmp.path, `127.0.0.1:${serve.port}`, tls(tlsGatewayPort), GATEWAY_SITE);
    stop.push(() => pg.stop());
    // A fetch-kind app behind nginx TLS + uwsgi_pass: its request.url is https.
    const honoSock = join(tmp.path, 'hono.sock');
    const hono = await startWorker(join(APPS, 'hono-app.mjs'), honoSock, ['--chmod-socket', '666']);
    stop.push(() => hono.stop());
    tlsHonoPort = await freePort();
    const ngHono = await startNginx(tmp.path, honoSock, tls(tlsHonoPort));
    stop.push(() => ngHono.stop());
  });

  after(async () => {
    for (const s of stop.reverse()) await s();
    tmp.cleanup();
  });

  for (const [path, port] of [
    ['nginx TLS → uwsgi_pass → portico worker', () => tlsPort],
    ['nginx TLS → proxy_pass → portico serve', () => tlsGatewayPort],
  ] as const) {
    test(`${path}: Express req.secure, req.protocol https, express-session's secure cookie sent`, async () => {
      const res = await tlsGet(port(), '/whoami');
      assert.equal(res.status, 200);
      assert.deepEqual(JSON.parse(res.body), { secure: true, protocol: 'https' });
      const cookies = res.headers['set-cookie'] ?? [];
      assert.ok(
        cookies.some((c) => /^connect\.sid=.*; Secure/i.test(c)),
        `no secure session cookie in ${JSON.stringify(cookies)}`,
      );
    });
  }

  test('nginx TLS → uwsgi_pass → a fetch app: request.url is https', async () => {
    const res = await tlsGet(tlsHonoPort, '/url');
    const url = new URL(JSON.parse(res.body).url as string);
    assert.equal(url.protocol, 'https:');
    assert.equal(url.pathname, '/url');
  });
});
