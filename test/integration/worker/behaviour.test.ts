import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { once } from 'node:events';
import { encodePacket } from '../../../protocol/uwsgi/packet-encoder.js';
import { uwsgiRequest } from '../../../protocol/uwsgi/uwsgi-client.js';
import type { Started } from '../../../support/child-process.js';
import { fixturesDir } from '../../../support/paths.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

const app = join(fixturesDir, 'behaviour-app.mjs');

function send(socketPath: string, bytes: Buffer): Promise<{ socket: Socket; response: Promise<Buffer> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath, () => {
      socket.write(bytes);
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      const response = new Promise<Buffer>((res) => socket.on('close', () => res(Buffer.concat(chunks))));
      socket.on('error', () => {});
      resolve({ socket, response });
    });
    socket.once('error', reject);
  });
}

function get(path: string, extraVars: Array<[string, string]> = []): Buffer {
  return encodePacket({ vars: [['REQUEST_METHOD', 'GET'], ['REQUEST_URI', path], ['PATH_INFO', path], ['HTTP_HOST', 'x'], ...extraVars] });
}

describe('worker: bad input gets a coded error, a log line, and the worker keeps serving', () => {
  const tmp = makeTmpDir('behaviour');
  const sock = join(tmp.path, 'w.sock');
  let worker: Started;
  before(async () => {
    // --buffer-size at uWSGI's 4096, so a block over it is easy to send.
    worker = await startWorker(app, sock, ['--buffer-size', '4096']);
  });
  after(async () => {
    await worker.stop();
    tmp.cleanup();
  });

  const stillServes = async (): Promise<void> => {
    const res = await uwsgiRequest({ socket: sock, path: '/' });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'ok');
  };

  it('a vars block over --buffer-size: connection closed, log names the option', async () => {
    const { response } = await send(sock, encodePacket({ vars: [['HTTP_BIG', 'x'.repeat(5000)]] }));
    assert.equal((await response).length, 0);
    await worker.waitFor(/PORTICO_ERR_VARS_TOO_BIG: .*invalid request block size 50\d\d \(max 4096\): raise --buffer-size/);
    await stillServes();
  });

  it('HTTP sent to the uwsgi socket: the classic "invalid request block size 21573"', async () => {
    const { response } = await send(sock, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await response;
    await worker.waitFor(/PORTICO_ERR_HTTP_ON_UWSGI_SOCKET: .*invalid request block size 21573/);
    await stillServes();
  });

  it('an unknown modifier1', async () => {
    const { response } = await send(sock, encodePacket({ modifier1: 99, vars: [['REQUEST_METHOD', 'GET']] }));
    await response;
    await worker.waitFor(/PORTICO_ERR_UNKNOWN_MODIFIER: .*modifier1 99/);
    await stillServes();
  });

  it('a var length pointing past the block', async () => {
    const packet = get('/');
    packet.writeUInt16LE(999, 4 + 2 + 'REQUEST_METHOD'.length);
    await (await send(sock, packet)).response;
    await worker.waitFor(/PORTICO_ERR_BAD_VAR_LENGTH/);
    await stillServes();
  });

  it('a connection closed mid-packet', async () => {
    const { socket, response } = await send(sock, get('/').subarray(0, 20));
    socket.end();
    await response;
    await worker.waitFor(/PORTICO_ERR_TRUNCATED_PACKET/);
    await stillServes();
  });

  it('a connection closed mid-body: the app sees its body cut, no response is sent', async () => {
    const head = encodePacket({
      vars: [
        ['REQUEST_METHOD', 'POST'],
        ['REQUEST_URI', '/echo-length'],
        ['PATH_INFO', '/echo-length'],
        ['CONTENT_LENGTH', '1000'],
      ],
    });
    const { socket, response } = await send(sock, Buffer.concat([head, Buffer.alloc(10)]));
    socket.end();
    assert.equal((await response).length, 0);
    await worker.waitFor(/PORTICO_ERR_TRUNCATED_BODY: POST \/echo-length: .*990 bytes missing/);
    await stillServes();
  });

  it('a client that hangs up aborts the request: the app sees request.signal fire', async () => {
    const { socket } = await send(sock, get('/wait-abort'));
    await worker.waitFor(/req: \d+\/\d+\] .* GET \/ =>/); // earlier requests logged; now hang up
    socket.destroy();
    await worker.waitFor(/app saw the abort/);
    await worker.waitFor(/GET \/wait-abort => generated 0 bytes .*\(client aborted\)/);
    await stillServes();
  });

  it('an app failing after the head was sent: the connection is cut and the failure logged', async () => {
    const { response } = await send(sock, get('/stream-then-throw'));
    const raw = (await response).toString();
    assert.match(raw, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(raw, /first chunk$/);
    await worker.waitFor(/PORTICO_ERR_APP_EXCEPTION: GET \/stream-then-throw: failed after the head was sent, connection cut: Error: failed mid-body/);
    await stillServes();
  });

  it("uWSGI's magic vars change nothing about what runs", async () => {
    const res = await uwsgiRequest({ socket: sock, path: '/env' });
    const plain = JSON.parse(res.body.toString()) as { cwd: string };
    const packet = get('/env', [
      ['UWSGI_FILE', '/etc/passwd'],
      ['UWSGI_SCRIPT', 'evil.module'],
      ['UWSGI_CHDIR', '/'],
      ['UWSGI_SETENV', 'PORTICO_MAGIC=set'],
      ['UWSGI_APPID', 'other'],
    ]);
    const raw = (await (await send(sock, packet)).response).toString();
    const body = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as { cwd: string; magic: string | null };
    assert.equal(body.magic, null);
    assert.equal(body.cwd, plain.cwd);
  });
});

describe('worker: sockets', () => {
  const tmp = makeTmpDir('sockets');
  after(() => tmp.cleanup());

  it('removes a stale socket file at start, refuses a live one, removes its own at exit', async () => {
    const sock = join(tmp.path, 'stale.sock');
    const first = await startWorker(app, sock);
    await first.stop('SIGKILL'); // dies without cleaning up: the file stays
    assert.ok(existsSync(sock));
    const second = await startWorker(app, sock);
    assert.equal((await uwsgiRequest({ socket: sock })).status, 200);

    const third = await startWorker(app, sock).then(
      () => assert.fail('a second worker took a live socket'),
      (err: Error) => err.message,
    );
    assert.match(third, /PORTICO_ERR_SOCKET_IN_USE/);
    assert.equal(await second.stop('SIGTERM'), 0);
    assert.equal(existsSync(sock), false);
  });

  it('--chmod-socket sets the mode nginx needs', async () => {
    const sock = join(tmp.path, 'mode.sock');
    const w = await startWorker(app, sock, ['--chmod-socket', '666']);
    const { statSync } = await import('node:fs');
    assert.equal(statSync(sock).mode & 0o777, 0o666);
    await w.stop();
  });

  it('a TCP socket serves addresses in --allow-from and refuses others', async () => {
    const { freePort } = await import('../../../support/free-port.js');
    const port = await freePort();
    const open = await startWorker(app, `127.0.0.1:${port}`);
    assert.equal((await uwsgiRequest({ socket: `127.0.0.1:${port}` })).status, 200);
    await open.stop();

    const port2 = await freePort();
    const closed = await startWorker(app, `127.0.0.1:${port2}`, ['--allow-from', '192.0.2.1']);
    await assert.rejects(uwsgiRequest({ socket: `127.0.0.1:${port2}` }));
    await closed.waitFor(/PORTICO_ERR_FORBIDDEN_PEER: refused 127\.0\.0\.1/);
    await closed.stop();
  });
});

describe('worker: graceful stop', () => {
  const tmp = makeTmpDir('graceful');
  after(() => tmp.cleanup());

  it('SIGTERM stops accepting, finishes the request in flight, exits 0 and removes the socket', async () => {
    const sock = join(tmp.path, 'g.sock');
    const w = await startWorker(app, sock);
    const pending = uwsgiRequest({ socket: sock, path: '/hold' });
    await w.waitFor(/app is holding a request/);
    w.child.kill('SIGTERM');
    await w.waitFor(/SIGTERM: graceful stop \(1 in flight\)/);
    const res = await pending;
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'released');
    const [code] = await once(w.child, 'exit');
    assert.equal(code, 0);
    assert.equal(existsSync(sock), false);
  });
});
