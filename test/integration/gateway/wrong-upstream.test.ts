// An --upstream that is not the server its scheme says (issue 15, item 5): an HTTP server (a real
// node:http server, real nginx, Python's http.server) behind uwsgi:// or portico://, a uwsgi-only server behind
// portico://, a server of another protocol, one that hangs up, one that stays silent. Each gets a
// 502 with a code and a line naming the likely cause and the fix. The "fails fast" gateways run
// with --upstream-timeout 600, far past this file's own timeout: an answer at the timeout would
// fail the test, never pass it. Only silence needs the timeout, and those gateways use 1 s.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isPorticoError } from '../../../common/errors.js';
import { uwsgiRequest } from '../../../protocol/uwsgi/uwsgi-client.js';
import { startProcess, type Started } from '../../../support/child-process.js';
import { freePort } from '../../../support/free-port.js';
import { runNginx, type Nginx } from '../../../support/nginx.js';
import { outputLine, startGateway, type HttpFront } from '../../support/portico-gateway.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { needPeer, nginxMissing, pythonMissing } from '../../support/peers.js';

const FAST = ['--upstream-timeout', '600'];
const SILENCE = ['--upstream-timeout', '1'];

/** A raw server on a unix socket: `onConnection` plays the peer. */
async function rawPeer(path: string, onConnection: (s: Socket) => void): Promise<Server> {
  const server = createServer((s) => {
    s.on('error', () => {});
    onConnection(s);
  });
  server.listen(path);
  await once(server, 'listening');
  return server;
}

async function get(front: HttpFront, path: string, init?: RequestInit): Promise<{ status: number; body: string }> {
  const res = await fetch(`${front.url}${path}`, init);
  return { status: res.status, body: await res.text() };
}

const IS_HTTP_SERVER = /is it an HTTP server\?/;

describe('gateway: an upstream that does not speak the protocol its scheme names', { skip: needPeer(nginxMissing() || pythonMissing()), timeout: 60_000 }, () => {
  const tmp = makeTmpDir('wrong-upstream');
  const sock = (name: string): string => join(tmp.path, `${name}.sock`);
  const servers: Server[] = [];
  const fronts: HttpFront[] = [];
  let nginx: Nginx | undefined;
  let python: Started | undefined;
  /** Gateways by peer and scheme. */
  const gw: Record<string, HttpFront> = {};

  before(async () => {
    const http = createHttpServer((_req, res) => res.end('an HTTP answer'));
    http.listen(sock('node-http'));
    await once(http, 'listening');
    servers.push(http as unknown as Server);
    servers.push(
      // Reads the packet and hangs up without a word.
      await rawPeer(sock('closer'), (s) => s.once('data', () => s.end())),
      // Reads and never answers, never closes.
      await rawPeer(sock('silent'), () => {}),
      // A TLS alert, then the close.
      await rawPeer(sock('tls'), (s) => s.once('data', () => s.end(Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46])))),
      // A banner, and the connection kept open: only the bytes can tell, and they do at once.
      await rawPeer(sock('banner'), (s) => s.write('SSH-2.0-OpenSSH_9.2\r\n')),
      // A uwsgi server that serves any packet, modifier1 unchecked (the HELLO too), as a request.
      await rawPeer(sock('uwsgi-only'), (s) => s.once('data', () => s.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok'))),
    );
    nginx = await runNginx(tmp.path, 'nginx', (port) => `server { listen 127.0.0.1:${port}; location / { return 200 "plain http\\n"; } }`);
    // Python's http.server reads up to a newline before it parses anything: in a uwsgi packet that
    // is a length byte of 10, if any (a 10-byte header value), else it waits like the silent peer.
    const pythonPort = await freePort();
    python = startProcess('/usr/bin/python3', ['-u', '-m', 'http.server', '--bind', '127.0.0.1', String(pythonPort)], { cwd: tmp.path });
    await python.waitFor(/Serving HTTP/);
    const plan: Array<[string, string, string[]]> = [
      ['node-http uwsgi', `uwsgi://unix:${sock('node-http')}`, FAST],
      ['node-http portico', `portico://unix:${sock('node-http')}`, FAST],
      ['nginx uwsgi', `uwsgi://127.0.0.1:${nginx.port}`, FAST],
      ['nginx portico', `portico://127.0.0.1:${nginx.port}`, FAST],
      ['closer uwsgi', `uwsgi://unix:${sock('closer')}`, FAST],
      ['closer portico', `portico://unix:${sock('closer')}`, FAST],
      ['tls uwsgi', `uwsgi://unix:${sock('tls')}`, FAST],
      ['banner uwsgi', `uwsgi://unix:${sock('banner')}`, FAST],
      ['banner portico', `portico://unix:${sock('banner')}`, FAST],
      ['uwsgi-only portico', `portico://unix:${sock('uwsgi-only')}`, FAST],
      ['silent uwsgi', `uwsgi://unix:${sock('silent')}`, SILENCE],
      ['silent portico', `portico://unix:${sock('silent')}`, SILENCE],
      ['python uwsgi', `uwsgi://127.0.0.1:${pythonPort}`, FAST],
    ];
    // Two at a time: each is a node start, and the machine is shared.
    for (let i = 0; i < plan.length; i += 2) {
      await Promise.all(
        plan.slice(i, i + 2).map(async ([name, upstream, extra]) => {
          const front = await startGateway([upstream], extra);
          fronts.push(front);
          gw[name] = front;
        }),
      );
    }
  });

  after(async () => {
    await Promise.all(fronts.map((f) => f.stop()));
    await nginx?.stop();
    await python?.stop();
    for (const s of servers) s.close();
    tmp.cleanup();
  });

  for (const peer of ['node-http', 'nginx']) {
    test(`uwsgi:// to an HTTP server (${peer}), which answers 400 at once: 502 PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL naming it`, async () => {
      const front = gw[`${peer} uwsgi`]!;
      assert.deepEqual(await get(front, '/page'), { status: 502, body: '502 PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL\n' });
      const [line] = await outputLine(front.proc, /PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL: GET \/page: .*/);
      assert.match(line, /the upstream at uwsgi:\/\/\S+ answered the uwsgi request with "HTTP\/1\.1 400 Bad Request" with Connection: close/);
      assert.match(line, IS_HTTP_SERVER);
      assert.match(line, /point --upstream at the app server's uwsgi socket .*http:\/\/ upstreams are not supported/);
    });

    test(`portico:// to an HTTP server (${peer}): the HELLO gets its 400, 502 PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL`, async () => {
      const front = gw[`${peer} portico`]!;
      assert.deepEqual(await get(front, '/page'), { status: 502, body: '502 PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL\n' });
      const [line] = await outputLine(front.proc, /PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL: GET \/page: .*/);
      assert.match(line, /portico:\/\/\S+ answered the native link's HELLO with "HTTP\/1\.1 400 Bad Request" with Connection: close/);
      assert.match(line, IS_HTTP_SERVER);
    });
  }

  test('uwsgi:// to an HTTP server, a POST whose body is still being written when it hangs up: a 502 at once, never a pass-through 400', async () => {
    const front = gw['node-http uwsgi']!;
    const r = await get(front, '/upload', { method: 'POST', body: Buffer.alloc(4 * 1024 * 1024, 0x61) });
    assert.equal(r.status, 502);
    // Its 400 may arrive first, or its reset of the connection under the body, whose failed write
    // closes the socket before the 400 is read: then the line names both suspects.
    if (r.body === '502 PORTICO_ERR_UPSTREAM_ABORTED\n') {
      await outputLine(front.proc, /PORTICO_ERR_UPSTREAM_ABORTED: POST \/upload: .*without answering, not a byte: .*unless it does not speak uwsgi \(an HTTP server/);
    } else {
      assert.equal(r.body, '502 PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL\n');
    }
  });

  test("uwsgi:// to a server that hangs up without a byte: 502 PORTICO_ERR_UPSTREAM_ABORTED naming both uWSGI's refusals and an HTTP server", async () => {
    // uWSGI does the same with a packet over its buffer size: the close alone proves no HTTP server.
    const front = gw['closer uwsgi']!;
    assert.deepEqual(await get(front, '/x'), { status: 502, body: '502 PORTICO_ERR_UPSTREAM_ABORTED\n' });
    await outputLine(
      front.proc,
      /PORTICO_ERR_UPSTREAM_ABORTED: GET \/x: .*closed the connection without answering, not a byte: the upstream's log says why \(uWSGI's "invalid request block size".*unless it does not speak uwsgi/,
    );
  });

  test('portico:// to a server that hangs up on the HELLO (what uWSGI does): 502 PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL, use uwsgi://', async () => {
    const front = gw['closer portico']!;
    assert.deepEqual(await get(front, '/x'), { status: 502, body: '502 PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL\n' });
    await outputLine(front.proc, /PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL: GET \/x: .*answered the native link's HELLO without a byte .*takes --upstream uwsgi:\/\/unix:\S+closer\.sock/);
  });

  test('uwsgi:// to a server of another protocol (a TLS alert): 502 PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL with the bytes it sent', async () => {
    const front = gw['tls uwsgi']!;
    assert.deepEqual(await get(front, '/x'), { status: 502, body: '502 PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL\n' });
    await outputLine(front.proc, /PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL: GET \/x: .*answered "\\x15\\x03\\x03\\x00\\x02\\x02F": no uwsgi response starts so/);
  });

  for (const scheme of ['uwsgi', 'portico']) {
    test(`${scheme}:// to a server that sends a banner and keeps the connection: 502 at its first bytes, not at the timeout`, async () => {
      const front = gw[`banner ${scheme}`]!;
      assert.deepEqual(await get(front, '/x'), { status: 502, body: '502 PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL\n' });
      await outputLine(front.proc, /PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL: GET \/x: .*answered (the native link's HELLO with )?"SSH-2\.0-OpenSSH_9\.2\\x0d\\x0a"/);
    });
  }

  test('portico:// to a uwsgi-only server that serves the HELLO as a request: 502 PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL, use uwsgi://', async () => {
    const front = gw['uwsgi-only portico']!;
    assert.deepEqual(await get(front, '/x'), { status: 502, body: '502 PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL\n' });
    await outputLine(
      front.proc,
      /PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL: GET \/x: .*HELLO with an HTTP response \("HTTP\/1\.1 200 OK"\), as a uwsgi server does .*takes --upstream uwsgi:\/\/unix:\S+uwsgi-only\.sock/,
    );
  });

  test('portico request (uwsgiRequest) to an HTTP server or a TLS server: PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL, not its 400 as an answer', async () => {
    await assert.rejects(
      uwsgiRequest({ socket: sock('node-http'), path: '/' }),
      (err: unknown) => isPorticoError(err) && err.code === 'PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL' && /"HTTP\/1\.1 400 Bad Request" with Connection: close/.test(err.message),
    );
    await assert.rejects(
      uwsgiRequest({ socket: sock('tls'), path: '/' }),
      (err: unknown) => isPorticoError(err) && err.code === 'PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL' && /answered "\\x15\\x03/.test(err.message),
    );
  });

  test('uwsgi:// to a server that never answers: only the timeout tells, and its 504 line names the suspect', async () => {
    const front = gw['silent uwsgi']!;
    assert.deepEqual(await get(front, '/x'), { status: 504, body: '504 PORTICO_ERR_UPSTREAM_TIMEOUT\n' });
    await outputLine(
      front.proc,
      /PORTICO_ERR_UPSTREAM_TIMEOUT: GET \/x: .*no response head within 1 s, not a byte of one: a slow or stuck app, or a server that does not speak uwsgi \(an HTTP server/,
    );
  });

  test("uwsgi:// to Python's http.server, once the packet holds a newline byte: its answer is taken for an HTTP server's", async () => {
    const front = gw['python uwsgi']!;
    assert.deepEqual(await get(front, '/x', { headers: { 'x-ten': '0123456789' } }), { status: 502, body: '502 PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL\n' });
    // Which of its answers depends on the words of the "request line" it cut: a 400, or an error
    // page alone, as HTTP/0.9 answers (what this request gets today).
    const [line] = await outputLine(front.proc, /PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL: GET \/x: .*/);
    assert.match(
      line,
      /answered (the uwsgi request with "HTTP\/1\.0 400 [^"]*" with Connection: close.*is it an HTTP server\?|"<!DOCTYPE HTML>.*is it an HTTP server \(a page without a status line, as HTTP\/0\.9 answers\)\?)/,
    );
  });

  test('portico:// to a server that never answers the HELLO: 502 PORTICO_ERR_NATIVE_HANDSHAKE at the timeout, naming the suspect', async () => {
    const front = gw['silent portico']!;
    assert.deepEqual(await get(front, '/x'), { status: 502, body: '502 PORTICO_ERR_NATIVE_HANDSHAKE\n' });
    await outputLine(front.proc, /PORTICO_ERR_NATIVE_HANDSHAKE: GET \/x: .*no HELLO_ACK within 1 s, not a byte: a stuck worker, or a server that does not speak the native link \(an HTTP server/);
  });
});
