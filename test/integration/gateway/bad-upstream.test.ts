// A uwsgi upstream that answers with hostile bytes (CVE-2023-27522 in Apache's mod_proxy_uwsgi is
// the model): the gateway's strict parser refuses each with 502, and nothing past a response's
// Content-Length ever reaches the client.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startProcess, type Started } from '../../../support/child-process.js';
import { fixturesDir } from '../../../support/paths.js';
import { outputLine, startGateway, type HttpFront } from '../../support/portico-gateway.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { needPeer, uwsgiMissing } from '../../support/peers.js';

/** What the fake upstream answers, by the request path it finds in the packet. */
const ANSWERS: Record<string, string> = {
  '/cr-in-value': 'HTTP/1.1 200 OK\r\nX-Evil: a\rSet-Cookie: b\r\nContent-Length: 2\r\n\r\nok',
  '/lf-in-value': 'HTTP/1.1 200 OK\r\nX-Evil: a\nSet-Cookie: b\r\nContent-Length: 2\r\n\r\nok',
  '/nul-in-value': 'HTTP/1.1 200 OK\r\nX-Evil: a\0b\r\nContent-Length: 2\r\n\r\nok',
  '/space-in-name': 'HTTP/1.1 200 OK\r\nX Evil: a\r\nContent-Length: 2\r\n\r\nok',
  '/bad-status': 'HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok',
  '/no-status': 'hello there\r\n\r\nok',
  '/two-lengths': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 7\r\n\r\nok',
  '/long-body': 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\n\r\nsmuggled',
  '/status-099': 'HTTP/1.1 099 Weird\r\nContent-Length: 2\r\n\r\nok',
  '/status-100': 'HTTP/1.1 100 Continue\r\n\r\n',
  '/status-101': 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n',
  '/status-600': 'HTTP/1.1 600 Beyond\r\nContent-Length: 2\r\n\r\nok',
  '/control-in-reason': 'HTTP/1.1 200 O\x01K\r\nContent-Length: 2\r\n\r\nok',
  '/connection-named': 'HTTP/1.1 200 OK\r\nConnection: close, X-Evil\r\nX-Evil: worker only\r\nContent-Length: 2\r\n\r\nok',
  // An app's own 400 (no Connection header, as from any uwsgi server): the client gets it as it is.
  '/app-400': 'HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nbad request',
};

describe('gateway: a uwsgi upstream that answers hostile bytes', { timeout: 60_000 }, () => {
  let tmp: ReturnType<typeof makeTmpDir> | undefined;
  let upstream: Server | undefined;
  let front: HttpFront | undefined;

  before(async () => {
    tmp = makeTmpDir('bad-upstream');
    const sock = join(tmp.path, 'evil.sock');
    upstream = createServer((s) => {
      s.on('error', () => {});
      s.once('data', (packet: Buffer) => {
        const text = packet.toString('latin1');
        const path = Object.keys(ANSWERS).find((p) => text.includes(`\0${p}`) || text.includes(p));
        s.end(path ? ANSWERS[path] : 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
      });
    });
    upstream.listen(sock);
    await once(upstream, 'listening');
    front = await startGateway([`uwsgi://unix:${sock}`]);
  });

  after(async () => {
    await front?.stop();
    upstream?.close();
    tmp?.cleanup();
  });

  const refused = ['/cr-in-value', '/lf-in-value', '/nul-in-value', '/space-in-name', '/bad-status', '/two-lengths', '/status-099', '/status-100', '/status-101', '/status-600', '/control-in-reason'];
  for (const path of refused) {
    test(`${path}: 502 PORTICO_ERR_BAD_RESPONSE, nothing of it passed on`, async () => {
      const res = await fetch(`${front!.url}${path}`);
      assert.equal(res.status, 502);
      assert.equal(await res.text(), '502 PORTICO_ERR_BAD_RESPONSE\n');
      assert.equal(res.headers.get('x-evil'), null);
      assert.equal(res.headers.get('set-cookie'), null);
      await outputLine(front!.proc, new RegExp(`PORTICO_ERR_BAD_RESPONSE: GET ${path}`));
      // Still up: the next request is answered.
      assert.equal((await fetch(`${front!.url}/connection-named`)).status, 200);
    });
  }

  test('/no-status: bytes no status line starts with: 502 PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL, nothing of it passed on', async () => {
    const res = await fetch(`${front!.url}/no-status`);
    assert.equal(res.status, 502);
    assert.equal(await res.text(), '502 PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL\n');
    await outputLine(front!.proc, /PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL: GET \/no-status: .*answered "hello there\\x0d\\x0a\\x0d\\x0aok": no uwsgi response starts so/);
  });

  test("an app's own 400 is passed on: only an HTTP server's refusal (with Connection: close) is taken for one", async () => {
    const res = await fetch(`${front!.url}/app-400`);
    assert.equal(res.status, 400);
    assert.equal(await res.text(), 'bad request');
  });

  test('headers the upstream names in its Connection header stay on its hop', async () => {
    const res = await fetch(`${front!.url}/connection-named`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-evil'), null);
    assert.equal(await res.text(), 'ok');
  });

  test('a body longer than its Content-Length: the client gets at most Content-Length bytes, never the rest', async () => {
    // The head and the first bytes may not have left yet when the extra bytes show: the
    // connection is cut then, and the client sees a hang-up instead.
    const body = await new Promise<string>((resolve) => {
      const req = httpRequest(`${front!.url}/long-body`, { agent: false }, (res) => {
        let text = '';
        res.setEncoding('latin1');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve(text));
        res.on('error', () => resolve(text));
        res.on('aborted', () => resolve(text));
      });
      req.on('error', () => resolve(''));
      req.end();
    });
    assert.equal(body, 'abc');
    await outputLine(front!.proc, /PORTICO_ERR_BAD_RESPONSE: GET \/long-body.*body longer than its Content-Length 3/);
  });
});

describe('gateway in front of real uWSGI whose app answers a status that cannot end a response', { skip: needPeer(uwsgiMissing()), timeout: 60_000 }, () => {
  let tmp: ReturnType<typeof makeTmpDir> | undefined;
  let uwsgi: Started | undefined;
  let front: HttpFront | undefined;

  before(async () => {
    tmp = makeTmpDir('odd-status');
    const sock = join(tmp.path, 'uwsgi.sock');
    uwsgi = startProcess('/usr/bin/uwsgi', ['--strict', '--die-on-term', '--plugin', 'python3', '--socket', sock, '--wsgi-file', join(fixturesDir, 'odd-status-app.py'), '--need-app']);
    await uwsgi.waitFor(/spawned uWSGI worker 1 \(and the only\)/);
    front = await startGateway([`uwsgi://unix:${sock}`]);
  });

  after(async () => {
    await front?.stop();
    await uwsgi?.stop();
    tmp?.cleanup();
  });

  for (const path of ['/099', '/101', '/103']) {
    test(`start_response('${path.slice(1)} ...'): 502 PORTICO_ERR_BAD_RESPONSE, and the gateway serves on`, async () => {
      const res = await fetch(`${front!.url}${path}`);
      assert.equal(res.status, 502);
      assert.equal(await res.text(), '502 PORTICO_ERR_BAD_RESPONSE\n');
      await outputLine(front!.proc, new RegExp(`PORTICO_ERR_BAD_RESPONSE: GET ${path}: .*not a final status`));
      const next = await fetch(`${front!.url}/`);
      assert.equal(next.status, 200);
      assert.equal(next.headers.get('x-private'), null);
      assert.equal(await next.text(), 'fine');
    });
  }
});
