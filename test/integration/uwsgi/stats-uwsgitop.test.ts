// uwsgitop, the tool uWSGI users watch their workers with, run unmodified (vendored in
// test/vendor/uwsgitop with its license) in a real pseudo-terminal against `portico worker --stats`,
// and against real uWSGI's --stats as the control: it draws every worker and quits on `q`, no
// traceback. And the stats JSON is a superset of uWSGI 2.0's: every key a live uWSGI sends, at
// every level, with the same type.
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { uwsgiRequest } from '../../../protocol/uwsgi/uwsgi-client.js';
import { outputLine, startProcess, type Started } from '../../../support/child-process.js';
import { fixturesDir, repoRoot } from '../../../support/paths.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { needPeer, pythonMissing, uwsgiMissing } from '../../support/peers.js';

const run = promisify(execFile);
const UWSGITOP = join(repoRoot, 'test', 'vendor', 'uwsgitop', 'uwsgitop');
const TTY_RUN = join(repoRoot, 'test', 'support', 'tty-run.py');

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function readStats(path: string): Promise<{ [key: string]: Json }> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    let text = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => (text += c));
    s.on('end', () => resolve(JSON.parse(text) as { [key: string]: Json }));
    s.on('error', reject);
  });
}

/** uwsgitop on `address` in a pseudo-terminal until every pid is on its screen, then `q`. */
async function uwsgitop(address: string, pids: number[]): Promise<{ code: number; screen: string }> {
  const until = pids.map((p) => `(?=[\\s\\S]*\\b${p}\\b)`).join('') + '[\\s\\S]*LastSpwn';
  try {
    const { stdout } = await run('/usr/bin/python3', [TTY_RUN, '--until', until, '--timeout', '20', '--', '/usr/bin/python3', UWSGITOP, address], { encoding: 'latin1', maxBuffer: 16 << 20 });
    return { code: 0, screen: stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string };
    return { code: e.code, screen: e.stdout };
  }
}

/** Every key of `theirs` is in `ours`, with the same JSON type, at every level (arrays: the first element). */
function missingKeys(theirs: Json, ours: Json, at = '$'): string[] {
  const kind = (v: Json): string => (Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v);
  if (kind(theirs) !== kind(ours)) return [`${at}: ${kind(ours)} where uWSGI has ${kind(theirs)}`];
  if (Array.isArray(theirs)) return theirs.length > 0 && (ours as Json[]).length > 0 ? missingKeys(theirs[0]!, (ours as Json[])[0]!, `${at}[0]`) : [];
  if (theirs === null || typeof theirs !== 'object') return [];
  const o = ours as { [key: string]: Json };
  return Object.keys(theirs).flatMap((k) => (k in o ? missingKeys(theirs[k]!, o[k]!, `${at}.${k}`) : [`${at}.${k}: missing`]));
}

describe('uwsgitop and the stats JSON, against real uWSGI', { skip: needPeer(uwsgiMissing() || pythonMissing()), timeout: 90_000 }, () => {
  const tmp = makeTmpDir('uwsgitop');
  let uwsgi: Started | undefined;
  let portico: Started | undefined;
  const uwsgiStats = join(tmp.path, 'uwsgi-stats.sock');
  const porticoStats = join(tmp.path, 'portico-stats.sock');
  const uwsgiSock = join(tmp.path, 'uwsgi.sock');
  const porticoSock = join(tmp.path, 'portico.sock');

  before(
    async () => {
      uwsgi = startProcess('/usr/bin/uwsgi', [
        '--strict',
        '--die-on-term',
        '--master',
        '--processes',
        '2',
        '--plugin',
        'python3',
        '--socket',
        uwsgiSock,
        '--stats',
        uwsgiStats,
        '--wsgi-file',
        join(fixturesDir, 'odd-status-app.py'),
        '--need-app',
      ]);
      await uwsgi.waitFor(/spawned uWSGI worker 2/);
      await uwsgi.waitFor(/Stats server enabled on/);
      portico = await startWorker(join(fixturesDir, 'wsgi-app.mjs'), porticoSock, ['--processes', '2', '--stats', porticoStats]);
      await outputLine(portico, /stats server on /);
      await uwsgiRequest({ socket: uwsgiSock, path: '/' });
      await uwsgiRequest({ socket: porticoSock, path: '/' });
    },
    { timeout: 30_000 },
  );
  after(async () => {
    await uwsgi?.stop();
    await portico?.stop();
    tmp.cleanup();
  });

  it("portico's stats JSON has every key of uWSGI 2.0's, at every level, with the same types", async () => {
    const theirs = await readStats(uwsgiStats);
    const ours = await readStats(porticoStats);
    assert.deepEqual(missingKeys(theirs, ours), []);
  });

  it('running_time is the time spent in requests (µs), as uWSGI counts it; tx the bytes sent', async () => {
    const ours = await readStats(porticoStats);
    const workers = ours.workers as Array<{ [key: string]: Json }>;
    const served = workers.find((w) => (w.requests as number) > 0)!;
    assert.ok((served.tx as number) > 0);
    // A request or two of a few ms, never the seconds since the worker started.
    assert.ok((served.running_time as number) < 5_000_000, `running_time ${String(served.running_time)}`);
  });

  for (const which of ['real uWSGI (the control)', 'portico'] as const) {
    it(`uwsgitop on ${which}: every worker drawn, quits on q, no traceback`, async () => {
      const stats = which === 'portico' ? porticoStats : uwsgiStats;
      const pids = ((await readStats(stats)).workers as Array<{ pid: number }>).map((w) => w.pid);
      const { code, screen } = await uwsgitop(stats, pids);
      assert.doesNotMatch(screen, /Traceback|Error/, screen.slice(-2000));
      assert.equal(code, 0, screen.slice(-2000));
    });
  }
});
