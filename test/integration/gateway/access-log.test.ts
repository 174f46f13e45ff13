// The gateway's access lines (gateway/front/access-log.ts), nginx's combined format: under `portico
// serve`, what the gateway answers itself (static files, its own errors) and nothing the workers
// log; under `portico gateway` in front of real uWSGI, every request.
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startProcess, type Started } from '../../../support/child-process.js';
import { fixturesDir } from '../../../support/paths.js';
import { outputLine, startGateway, startServe, type HttpFront } from '../../support/portico-gateway.js';
import { sendRaw } from '../../support/raw-exchange.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { needPeer, uwsgiMissing } from '../../support/peers.js';

const line = (method: string, path: string, status: number): RegExp =>
  new RegExp(`^127\\.0\\.0\\.1 - - \\[\\d{2}/\\w{3}/\\d{4}:\\d{2}:\\d{2}:\\d{2} \\+0000\\] "${method} ${path.replace(/[?.]/g, '\\$&')} HTTP/1\\.1" ${status} \\S+ "[^"]*" "[^"]*" "[^"]+"$`, 'm');

describe('portico serve: access lines for what the gateway answers itself', { timeout: 60_000 }, () => {
  let front: HttpFront | undefined;
  before(async () => {
    front = await startServe(join(fixturesDir, 'url-app.mjs'), ['--static', `/static=${join(fixturesDir, 'url-static')}`]);
  });
  after(() => front?.stop());

  it("a static file (from disk, then from the cache), a static miss and a 413 get a line; a forwarded request only its worker's", async () => {
    assert.equal((await fetch(`${front!.url}/static/file.txt`, { headers: { referer: 'http://ref/', 'user-agent': 'access-test' } })).status, 200);
    assert.equal((await fetch(`${front!.url}/static/file.txt`)).status, 200);
    assert.equal((await fetch(`${front!.url}/static/missing.txt`)).status, 404);
    assert.equal((await fetch(`${front!.url}/forwarded`)).status, 200);
    const big = await sendRaw(front!.port, Buffer.from('POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n'), { split: 'whole', expect: 1 });
    assert.equal(big.responses[0]?.status, 413);
    await outputLine(front!.proc, line('POST', '/big', 413));
    // The worker logs the forwarded one, in uWSGI's shape (its lines are flushed within 100 ms).
    await outputLine(front!.proc, /\] GET \/forwarded => generated/);
    const out = front!.proc.output();
    assert.match(out, /"GET \/static\/file\.txt HTTP\/1\.1" 200 \S+ "http:\/\/ref\/" "access-test" "[0-9a-f-]{36}"$/m);
    assert.equal(out.match(/"GET \/static\/file\.txt HTTP\/1\.1" 200/g)?.length, 2);
    assert.match(out, line('GET', '/static/missing.txt', 404));
    // ...and the gateway does not log it again.
    assert.doesNotMatch(out, /"GET \/forwarded HTTP/);
  });
});

describe('portico gateway in front of real uWSGI: every request gets an access line', { skip: needPeer(uwsgiMissing()), timeout: 60_000 }, () => {
  let tmp: ReturnType<typeof makeTmpDir> | undefined;
  let uwsgi: Started | undefined;
  let front: HttpFront | undefined;
  before(async () => {
    tmp = makeTmpDir('access-uwsgi');
    const sock = join(tmp.path, 'uwsgi.sock');
    uwsgi = startProcess('/usr/bin/uwsgi', [
      '--strict',
      '--die-on-term',
      '--plugin',
      'python3',
      '--socket',
      sock,
      '--wsgi-file',
      join(fixturesDir, 'odd-status-app.py'),
      '--need-app',
      '--disable-logging',
    ]);
    await uwsgi.waitFor(/spawned uWSGI worker 1 \(and the only\)/);
    front = await startGateway([`uwsgi://unix:${sock}`]);
  });
  after(async () => {
    await front?.stop();
    await uwsgi?.stop();
    tmp?.cleanup();
  });

  it('an answer of uWSGI and a 502 of the gateway', async () => {
    assert.equal((await fetch(`${front!.url}/fine?x=1`)).status, 200);
    assert.equal((await fetch(`${front!.url}/099`)).status, 502);
    await outputLine(front!.proc, line('GET', '/099', 502));
    assert.match(front!.proc.output(), line('GET', '/fine?x=1', 200));
  });

  it('a WebSocket handshake the WSGI app does not take: its answer, closed, with its line (uWSGI logs nothing the gateway sees)', async () => {
    const ex = await sendRaw(
      front!.port,
      Buffer.from('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'),
      { split: 'whole', expect: 2 },
    );
    assert.deepEqual(
      ex.responses.map((r) => r.status),
      [200],
    );
    assert.ok(ex.closed, 'an answer that refuses the upgrade ends the connection');
    // Connection: X-Private named a header for the hop only: the tunnel drops it as every answer does.
    assert.equal(
      ex.responses[0]!.headers.find(([n]) => n.toLowerCase() === 'x-private'),
      undefined,
    );
    await outputLine(front!.proc, line('GET', '/ws', 200));
  });
});
