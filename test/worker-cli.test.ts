import { strict as assert } from 'node:assert';
import { execFile, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { uwsgiRequest } from '../protocol/uwsgi-client.js';
import { freePort } from './support/free-port.js';
import { fixturesDir, porticoBin } from './support/paths.js';
import { startWorker } from './support/portico-worker.js';
import { makeTmpDir } from './support/tmp-dir.js';

const run = promisify(execFile);

async function failingStart(args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    // SIGKILL: a server that wrongly started must not outlive the test (its workers follow it).
    await run(process.execPath, [porticoBin, ...args], { timeout: 10_000, killSignal: 'SIGKILL' });
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
  return assert.fail('portico exited 0');
}

describe('portico worker: loading the app', () => {
  const tmp = makeTmpDir('cli');
  after(() => tmp.cleanup());
  const sock = (name: string): string => join(tmp.path, `${name}.sock`);

  it('a missing file exits non-zero and names it', async () => {
    const r = await failingStart(['worker', 'nope/missing.mjs', '--socket', sock('a')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /PORTICO_ERR_APP_LOAD: .*nope\/missing\.mjs: no such file/);
  });

  it('an export that matches no kind exits non-zero and says the rules', async () => {
    const r = await failingStart(['worker', join(fixturesDir, 'no-kind.mjs'), '--socket', sock('b')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no-kind\.mjs: export "default" is a function of 4 parameters, which matches no kind/);
    assert.match(r.stderr, /a function of one parameter is a fetch app/);
  });

  it('a module that throws at import exits non-zero with its stack', async () => {
    const r = await failingStart(['worker', join(fixturesDir, 'import-fails.mjs'), '--socket', sock('c')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /import-fails\.mjs: import failed: Error: this module fails at import/);
  });

  it('a forced kind the export cannot be is refused', async () => {
    const r = await failingStart(['worker', join(fixturesDir, 'server-app.mjs'), '--kind', 'wsgi', '--socket', sock('d')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot run as a wsgi app/);
  });

  it('an http.Server export runs as a node app, with repeated headers joined as Node does', async () => {
    const s = sock('server');
    const w = await startWorker(join(fixturesDir, 'server-app.mjs'), s);
    await w.waitFor(/node app .*server-app\.mjs:default on/);
    const res = await uwsgiRequest({ socket: s, path: '/x?y', headers: [['Cookie', 'a=1'], ['Cookie', 'b=2'], ['X-Custom', 'p'], ['X-Custom', 'q']] });
    assert.deepEqual(JSON.parse(res.body.toString()), { kind: 'server', url: '/x?y', cookie: 'a=1; b=2', custom: 'p, q' });
    await w.stop();
  });

  it('MODULE:exportName picks an export of a CommonJS module; the name decides nothing else', async () => {
    const s1 = sock('cjs-wsgi');
    const wsgi = await startWorker(`${join(fixturesDir, 'named-exports.cjs')}:application`, s1);
    const r1 = await uwsgiRequest({ socket: s1, method: 'PUT', body: 'x' });
    assert.match(r1.body.toString(), /^wsgi PUT http \d+\.\d+\.\d+$/);
    await wsgi.stop();

    const s2 = sock('cjs-fetch');
    const fetchApp = await startWorker(`${join(fixturesDir, 'named-exports.cjs')}:handler`, s2);
    await fetchApp.waitFor(/fetch app .*named-exports\.cjs:handler on/);
    assert.equal((await uwsgiRequest({ socket: s2, method: 'DELETE' })).body.toString(), 'fetch DELETE');
    await fetchApp.stop();
  });
});

describe('portico worker: logging', () => {
  const tmp = makeTmpDir('logging');
  after(() => tmp.cleanup());

  it('--log-format json writes one JSON object per request', async () => {
    const s = join(tmp.path, 'json.sock');
    const w = await startWorker(join(fixturesDir, 'behaviour-app.mjs'), s, ['--log-format', 'json']);
    await uwsgiRequest({ socket: s, path: '/json-log?x=1' });
    const [line] = await w.waitFor(/\{[^\n]*"\/json-log\?x=1"[^\n]*\}/);
    const rec = JSON.parse(line) as { level: number; pid: number; req: Record<string, unknown> };
    assert.equal(rec.pid, w.child.pid);
    assert.equal(rec.req.method, 'GET');
    assert.equal(rec.req.status, 200);
    assert.equal(rec.req.bodyBytes, 2);
    await w.stop();
  });

  it('--disable-logging leaves out request lines but keeps errors', async () => {
    const s = join(tmp.path, 'quiet.sock');
    const w = await startWorker(join(fixturesDir, 'behaviour-app.mjs'), s, ['--disable-logging']);
    await uwsgiRequest({ socket: s, path: '/quiet' });
    await uwsgiRequest({ socket: s, path: '/stream-then-throw' }).catch(() => undefined);
    await w.waitFor(/PORTICO_ERR_APP_EXCEPTION/);
    assert.doesNotMatch(w.output(), /GET \/quiet =>/);
    await w.stop();
  });
});

/** The error line portico printed, after checking it is one coded line and no stack trace. */
function oneErrorLine(stderr: string, code: string): string {
  assert.doesNotMatch(stderr, /^\s+at /m, `a stack trace:\n${stderr}`);
  const lines = stderr.split('\n').filter((l) => l.includes(code));
  assert.equal(lines.length, 1, `one ${code} line expected:\n${stderr}`);
  assert.match(lines[0]!, new RegExp(`^portico: ${code}: `));
  return lines[0]!;
}

/** A TCP listener another process would hold: the port is taken for as long as it runs. */
async function holdPort(): Promise<{ port: number; close(): Promise<void> }> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return { port: (srv.address() as AddressInfo).port, close: () => new Promise((resolve) => srv.close(() => resolve())) };
}

/** The backlog of the listening socket (`ss` shows it as Send-Q): what --listen set. */
function listenBacklog(filter: string[]): number {
  const out = execFileSync('ss', ['-lnH', ...filter], { encoding: 'utf8' }).trim();
  const row = out.split('\n')[0]!.trim().split(/\s+/);
  // u_str LISTEN 0 37 PATH ... / LISTEN 0 37 ADDR:PORT ...
  return Number(row[row[0] === 'LISTEN' ? 2 : 3]);
}

describe('portico worker: binding', () => {
  const tmp = makeTmpDir('bind');
  after(() => tmp.cleanup());
  const APP = join(fixturesDir, 'master-app.mjs');

  it('a TCP port another process holds is refused with one line, with and without the master', async () => {
    const held = await holdPort();
    try {
      for (const mode of [['--no-master'], ['--processes', '1']]) {
        const r = await failingStart(['worker', APP, '--socket', `127.0.0.1:${held.port}`, ...mode]);
        assert.equal(r.code, 1, mode.join(' '));
        assert.match(oneErrorLine(r.stderr, 'PORTICO_ERR_SOCKET_IN_USE'), new RegExp(`127\\.0\\.0\\.1:${held.port} is in use`));
        assert.doesNotMatch(r.stderr, /accepting on/);
      }
    } finally {
      await held.close();
    }
  });

  it('--listen N is the backlog of the socket the master binds (unix and TCP)', async () => {
    const sock = join(tmp.path, 'backlog.sock');
    const port = await freePort();
    const [u, t] = await Promise.all([
      startWorker(APP, sock, ['--processes', '1', '--listen', '37']),
      startWorker(APP, `127.0.0.1:${port}`, ['--processes', '1', '--listen', '41']),
    ]);
    try {
      assert.equal(listenBacklog(['-x', 'src', sock]), 37);
      assert.equal(listenBacklog(['-t', 'sport', '=', `:${port}`]), 41);
    } finally {
      assert.equal(await u.stop('SIGTERM'), 0);
      assert.equal(await t.stop('SIGTERM'), 0);
    }
  });
});
