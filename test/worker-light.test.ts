// A worker loads only what its options need (worker/master-client.ts, worker/connection.ts,
// common/logger.ts, worker/adapters/web-classes.ts): a hello-world worker behind nginx has no
// watchdog thread, no pino, no avsc, no prom-client, no undici; the options that need them bring them.
import { strict as assert } from 'node:assert';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { uwsgiRequest } from '../protocol/uwsgi-client.js';
import { startProcess } from './support/child-process.js';
import { fixturesDir, porticoBin, repoRoot } from './support/paths.js';
import { makeTmpDir } from './support/tmp-dir.js';

interface Loaded {
  worker: boolean;
  packages: string[];
  builtins: string[];
  undici: boolean;
}

describe('light processes', { timeout: 60_000 }, () => {
  const tmp = makeTmpDir('worker-light');
  after(() => tmp.cleanup());

  /** Runs `portico worker APP --processes 1 ...extra`, sends one request, stops; what master and worker loaded. */
  async function loadedBy(name: string, app: string, extra: string[], path = '/'): Promise<{ master: Loaded; worker: Loaded; body: string }> {
    const dir = join(tmp.path, name);
    mkdirSync(dir);
    const sock = join(dir, 'app.sock');
    const env = { ...process.env, NODE_OPTIONS: `--import=${join(fixturesDir, 'loaded-modules.mjs')}`, PORTICO_TEST_LOADED_DIR: dir };
    const master = startProcess(process.execPath, [porticoBin, 'worker', app, '--socket', sock, '--processes', '1', ...extra], { env });
    let body: string;
    try {
      await master.waitFor(/accepting on /);
      const res = await uwsgiRequest({ socket: sock, path });
      assert.equal(res.status, 200);
      body = res.body.toString();
    } finally {
      assert.equal(await master.stop(), 0);
    }
    const all = readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Loaded);
    const worker = all.find((l) => l.worker);
    const masterLoaded = all.find((l) => !l.worker);
    assert.ok(worker && masterLoaded, `one master and one worker wrote what they loaded (${all.length} files)`);
    return { master: masterLoaded, worker, body };
  }

  const hasThreads = (l: Loaded): boolean => l.builtins.includes('NativeModule worker_threads');

  it('a hello-world worker and its master load no pino, avsc, prom-client, fastify or undici, and the worker no watchdog thread', async () => {
    const { master, worker, body } = await loadedBy('plain', join(repoRoot, 'examples', 'hello.mjs'), []);
    assert.equal(body, 'Hello World');
    for (const l of [master, worker]) {
      for (const pkg of ['pino', 'avsc', 'prom-client', 'fastify']) assert.ok(!l.packages.includes(pkg), `${l.worker ? 'worker' : 'master'} loaded ${pkg}`);
      assert.equal(l.undici, false);
    }
    assert.equal(hasThreads(worker), false);
  });

  it('--log-format json loads pino, --stats starts the watchdog thread, Response.json loads undici', async () => {
    const { master, worker, body } = await loadedBy('options', join(fixturesDir, 'fetch-app.mjs'), ['--log-format', 'json', '--stats', join(tmp.path, 'stats.sock')], '/form');
    assert.equal(body, '{}');
    assert.ok(master.packages.includes('pino') && worker.packages.includes('pino'));
    assert.ok(worker.undici, 'Response.json needs Node\'s Response');
    assert.ok(hasThreads(worker), 'the watchdog thread answers --stats');
    assert.ok(!worker.packages.includes('avsc'), 'no native link was asked for');
  });
});
