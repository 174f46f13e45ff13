import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { outputLine, type Started } from './support/child-process.js';
import { startNginx } from './support/nginx.js';
import { fixturesDir } from './support/paths.js';
import { startServe, type HttpFront } from './support/portico-gateway.js';
import { startWorker } from './support/portico-worker.js';
import { makeTmpDir } from './support/tmp-dir.js';

// docs/diagnostics.md: harakiri logs the stuck request's stack, SIGUSR2 logs every worker's
// stack without killing, --log-slow logs a slow request with its stack sampled while it runs.
const tmp = makeTmpDir('diagnostics');
after(() => tmp.cleanup());

const running: Array<{ stop(): Promise<unknown> }> = [];
after(async () => {
  await Promise.all(running.map((f) => f.stop()));
});

const KINDS = ['fetch', 'node', 'wsgi'] as const;
const app = (kind: string): string => join(fixturesDir, 'diagnostics', `${kind}-app.mjs`);
/** The app's own function that calls the spinning or waiting one, per kind. */
const CALLER: Record<(typeof KINDS)[number], string> = { fetch: 'handleRequest', node: 'handleRequest', wsgi: 'application' };

async function serve(kind: string, extra: string[]): Promise<HttpFront> {
  const front = await startServe(app(kind), ['--workers', '2', '--disable-logging', ...extra]);
  running.push(front);
  return front;
}

/** The whole line matching `head` in the output, with the stack lines that follow it. */
async function stackAfter(proc: Started, head: string): Promise<string> {
  const m = await outputLine(proc, new RegExp(`[^\\n]*${head}[^\\n]*\\n(?: {4}[^\\n]*\\n)+`));
  return m[0];
}

describe('diagnostics: where a stuck request is', () => {
  for (const kind of KINDS) {
    it(`${kind} app spinning under serve --harakiri 2: the log has the request, the worker and the app's functions from its stack`, async () => {
      const front = await serve(kind, ['--harakiri', '2']);
      const res = fetch(`${front.url}/spin?x=1`);
      const entry = await stackAfter(front.proc, 'HARAKIRI ON WORKER');
      assert.match(entry, /^PORTICO_ERR_HARAKIRI: HARAKIRI ON WORKER \d \(pid: \d+\): GET \/spin\?x=1 ran \d+\.\d s \(--harakiri 2\), its stack:\n/);
      const file = app(kind).replaceAll('/', '\\/').replaceAll('.', '\\.');
      assert.match(entry, new RegExp(`\\n {4}at spinForever \\(file://${file}:\\d+:\\d+\\)\\n {4}at ${CALLER[kind]} \\(file://${file}:\\d+:\\d+\\)\\n`));
      assert.equal((await res).status, 504);
    });
  }

  it('under the master behind nginx: the same entry, and a worker blocked in a native call is killed anyway, the log says why', async () => {
    const socket = join(tmp.path, 'nginx.sock');
    const worker = await startWorker(app('fetch'), socket, ['--processes', '1', '--harakiri', '2', '--harakiri-graceful-timeout', '1', '--chmod-socket', '666', '--disable-logging']);
    running.push(worker);
    const nginx = await startNginx(tmp.path, socket);
    running.push(nginx);
    const spin = await fetch(`${nginx.url}/spin`);
    assert.equal(spin.status, 502);
    assert.match(await stackAfter(worker, 'HARAKIRI ON WORKER 1'), /GET \/spin ran .*\n {4}at spinForever .*\n {4}at handleRequest /);
    await outputLine(worker, /Respawned worker 1/);
    // execSync waits in C++: V8's interrupt, which the inspector needs, never comes.
    const native = await fetch(`${nginx.url}/native`);
    assert.equal(native.status, 502);
    assert.match(await stackAfter(worker, 'HARAKIRI ON WORKER 1 \\(pid: \\d+\\): GET /native'),
      /\n {4}\(no stack: the app's thread did not answer the inspector within 1000 ms: it is blocked outside JavaScript, in a native call\)\n/);
  });

  for (const kind of KINDS) {
    it(`${kind} app in a long synchronous call: SIGUSR2 logs its stack and request while it runs, and kills nothing`, async () => {
      const front = await serve(kind, []);
      const flag = join(tmp.path, `flag-${kind}`);
      const res = fetch(`${front.url}/wait?flag=${encodeURIComponent(flag)}`);
      await outputLine(front.proc, /app waiting for the flag/);
      // Until the watchdog sees the heartbeat late the loop may merely be between callbacks.
      await outputLine(front.proc, /is not answering: its event loop has been blocked/);
      front.proc.child.kill('SIGUSR2');
      const entry = await stackAfter(front.proc, `STACK OF WORKER \\d \\(pid: \\d+\\): GET /wait`);
      assert.match(entry, /: GET \/wait\?flag=\S+ running \d+\.\d s, event loop blocked for \d+\.\d s\n {4}at waitForFlag \(file:\/\/\S+:\d+:\d+\)\n {4}at (handleRequest|application) /);
      // The other worker is idle: said so, no stack of whatever callback ran next.
      await outputLine(front.proc, /STACK OF WORKER \d \(pid: \d+\): no request in flight\n {4}\(no stack: the event loop is not blocked \(it turned \d+ ms ago\)/);
      writeFileSync(flag, '');
      const answer = await res;
      assert.equal(answer.status, 200);
      assert.doesNotMatch(front.proc.output(), /HARAKIRI|exited/);
    });
  }

  it('--log-slow 1: a request past it is logged with its stack while it runs, and again when it ends', async () => {
    const front = await serve('fetch', ['--log-slow', '1']);
    const flag = join(tmp.path, 'flag-slow');
    const res = fetch(`${front.url}/wait?flag=${encodeURIComponent(flag)}`);
    const entry = await stackAfter(front.proc, 'SLOW REQUEST on worker');
    assert.match(entry, /^SLOW REQUEST on worker \d \(pid: \d+\): GET \/wait\?flag=\S+ still running after \d+\.\d s \(--log-slow 1\), its stack:\n {4}at waitForFlag .*\n {4}at handleRequest /);
    writeFileSync(flag, '');
    assert.equal((await res).status, 200);
    await outputLine(front.proc, /SLOW REQUEST on worker \d \(pid: \d+\): GET \/wait\?flag=\S+ took \d+\.\d s \(--log-slow 1\)\n/);
  });
});
