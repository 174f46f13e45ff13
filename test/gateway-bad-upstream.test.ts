// A uwsgi upstream that answers with hostile bytes (CVE-2023-27522 in Apache's mod_proxy_uwsgi is
// the model): the gateway's strict parser refuses each with 502, and nothing past a response's
// Content-Length ever reaches the client.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { outputLine, startGateway, type HttpFront } from './support/portico-gateway.js';
import { makeTmpDir } from './support/tmp-dir.js';

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

  for (const path of ['/cr-in-value', '/lf-in-value', '/nul-in-value', '/space-in-name', '/bad-status', '/no-status', '/two-lengths']) {
    test(`${path}: 502 PORTICO_ERR_BAD_RESPONSE, nothing of it passed on`, async () => {
      const res = await fetch(`${front!.url}${path}`);
      assert.equal(res.status, 502);
      assert.equal(await res.text(), '502 PORTICO_ERR_BAD_RESPONSE\n');
      assert.equal(res.headers.get('x-evil'), null);
      assert.equal(res.headers.get('set-cookie'), null);
      await outputLine(front!.proc, new RegExp(`PORTICO_ERR_BAD_RESPONSE: GET ${path}`));
    });
  }

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
    assert.ok(body === 'abc' || body === '', `the client got ${JSON.stringify(body)}`);
    await outputLine(front!.proc, /PORTICO_ERR_BAD_RESPONSE: GET \/long-body.*body longer than its Content-Length 3/);
  });
});
