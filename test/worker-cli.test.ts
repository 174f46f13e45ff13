import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { uwsgiRequest } from '../protocol/uwsgi-client.js';
import { fixturesDir, porticoBin } from './support/paths.js';
import { startWorker } from './support/portico-worker.js';
import { makeTmpDir } from './support/tmp-dir.js';

const run = promisify(execFile);

async function failingStart(args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await run(process.execPath, [porticoBin, ...args], { timeout: 20_000 });
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

  it('--chunked-input-timeout must be a positive number of seconds', async () => {
    for (const [value, why] of [['0', /--chunked-input-timeout must be more than 0/], ['soon', /--chunked-input-timeout must be a number of seconds, got soon/]] as const) {
      // With the master too: it checks before it starts workers that would each die of the value.
      for (const master of ['--no-master', '--master']) {
        const r = await failingStart(['worker', join(fixturesDir, 'fetch-app.mjs'), master, '--chunked-input-timeout', value, '--socket', sock(`t${value}`)]);
        assert.equal(r.code, 1, master);
        assert.match(r.stderr, /PORTICO_ERR_INVALID_OPTION/, master);
        assert.match(r.stderr, why, master);
      }
    }
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
