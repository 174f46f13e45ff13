// A worker loads only what its options need (worker/master-client.ts, worker/uwsgi/uwsgi-connection.ts,
// common/logger.ts, worker/adapters/web-classes.ts): a hello-world worker behind nginx has no
// watchdog thread, no pino, no avsc, no prom-client, no undici; the options that need them bring them.
// Neither it nor its master optimizes code while it starts (common/optimizer-pause.ts), nor loads
// node:inspector (worker/watchdog/stack-sampler.ts: the watchdog thread's, when it samples).
import { strict as assert } from 'node:assert';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { uwsgiRequest } from '../../../protocol/uwsgi/uwsgi-client.js';
import { startProcess } from '../../../support/child-process.js';
import { fixturesDir, porticoBin, repoRoot } from '../../../support/paths.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

interface Loaded {
  worker: boolean;
  packages: string[];
  threadsStarted: number;
  undici: boolean;
  flagsAsStarted: boolean;
  inspector: boolean;
}

describe('light processes', { timeout: 60_000 }, () => {
  const tmp = makeTmpDir('worker-light');
  after(() => tmp.cleanup());

  /** Runs `portico worker APP --processes 1 ...extra`, sends one request, stops; what master and worker loaded. */
  async function loadedBy(name: string, app: string, extra: string[], path = '/', nodeArgs: string[] = []): Promise<{ master: Loaded; worker: Loaded; body: string; startOutput: string }> {
    const dir = join(tmp.path, name);
    mkdirSync(dir);
    const sock = join(dir, 'app.sock');
    const env = { ...process.env, NODE_OPTIONS: `--import=${join(fixturesDir, 'loaded-modules.mjs')}`, PORTICO_TEST_LOADED_DIR: dir };
    const master = startProcess(process.execPath, [...nodeArgs, porticoBin, 'worker', app, '--socket', sock, '--processes', '1', ...extra], { env });
    let body: string;
    let startOutput: string;
    try {
      await master.waitFor(/accepting on /);
      startOutput = master.output();
      const res = await uwsgiRequest({ socket: sock, path });
      assert.equal(res.status, 200);
      body = res.body.toString();
    } finally {
      assert.equal(await master.stop(), 0);
    }
    const all = readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Loaded);
    const worker = all.find((l) => l.worker);
    const masterLoaded = all.find((l) => !l.worker);
    assert.ok(worker && masterLoaded, `one master and one worker wrote what they loaded (${all.length} files)`);
    return { master: masterLoaded, worker, body, startOutput };
  }

  const hasThreads = (l: Loaded): boolean => l.threadsStarted > 0;
  // Node 24 loads undici itself at startup (its Request is a plain value, not a lazy accessor): not
  // portico's to spare there. Node 20 loads it on the first read of one of its globals.
  const nodeLoadsUndici = typeof Object.getOwnPropertyDescriptor(globalThis, 'Request')?.get !== 'function';

  it('a hello-world worker and its master load no pino, avsc, prom-client, fastify, undici or node:inspector, optimize nothing while they start, and the worker has no watchdog thread', async () => {
    // --trace-opt reaches the worker through the master's execArgv; V8 prints a line for each
    // function it marks for optimization.
    const { master, worker, body, startOutput } = await loadedBy('plain', join(repoRoot, 'examples', 'hello.mjs'), [], '/', ['--trace-opt']);
    assert.equal(body, 'Hello World');
    // Node 24 has Node's own start (before portico runs) optimize a few with Maglev: TurboFan only.
    assert.doesNotMatch(startOutput, /\[marking .* to TURBOFAN/);
    for (const l of [master, worker]) {
      for (const pkg of ['pino', 'avsc', 'prom-client', 'fastify']) assert.ok(!l.packages.includes(pkg), `${l.worker ? 'worker' : 'master'} loaded ${pkg}`);
      if (!nodeLoadsUndici) assert.equal(l.undici, false, `${l.worker ? 'worker' : 'master'} loaded undici`);
      assert.ok(l.flagsAsStarted, `${l.worker ? 'worker' : 'master'} optimizes again once started`);
      assert.equal(l.inspector, false, `${l.worker ? 'worker' : 'master'} loaded node:inspector`);
    }
    assert.equal(hasThreads(worker), false);
  });

  it('--log-format json loads pino, --stats starts the watchdog thread, Response.json loads undici', async () => {
    const { master, worker, body } = await loadedBy('options', join(fixturesDir, 'fetch-app.mjs'), ['--log-format', 'json', '--stats', join(tmp.path, 'stats.sock')], '/form');
    assert.equal(body, '{}');
    assert.ok(master.packages.includes('pino') && worker.packages.includes('pino'));
    assert.ok(worker.undici, "Response.json needs Node's Response");
    assert.ok(hasThreads(worker), 'the watchdog thread answers --stats');
    assert.ok(!worker.packages.includes('avsc'), 'no native link was asked for');
  });
});

describe('--accept-busy on the shared socket', { timeout: 60_000 }, () => {
  const tmp = makeTmpDir('accept-busy');
  after(() => tmp.cleanup());

  it('a worker with a request not yet answered leaves the next connection to another worker; both answer', async () => {
    const sock = join(tmp.path, 'app.sock');
    const release = join(tmp.path, 'release');
    const master = startProcess(process.execPath, [porticoBin, 'worker', join(fixturesDir, 'hold-app.mjs'), '--socket', sock, '--processes', '2', '--accept-busy', '1'], {
      env: { ...process.env, HOLD_RELEASE: release },
    });
    try {
      await master.waitFor(/2 worker\(s\) of .* accepting on /);
      const first = uwsgiRequest({ socket: sock, path: '/1' });
      const [, pid1] = await master.waitFor(/holding (\d+)/);
      // The worker holding the first request stopped accepting: only the other one can take this.
      const second = uwsgiRequest({ socket: sock, path: '/2' });
      const [, pid2] = await master.waitFor(new RegExp(`holding (?!${pid1!})(\\d+)`));
      writeFileSync(release, '');
      const answers = await Promise.all([first, second]);
      assert.deepEqual(
        answers.map((a) => a.body.toString()),
        [pid1, pid2],
      );
      // Both accept again once they have answered.
      const more = await Promise.all(Array.from({ length: 8 }, (_, i) => uwsgiRequest({ socket: sock, path: `/more${i}` })));
      for (const r of more) assert.equal(r.status, 200);
    } finally {
      assert.equal(await master.stop(), 0);
    }
  });
});
