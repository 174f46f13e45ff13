/**
 * A chain reload under load (part of `npm run bench`; alone with BENCH_SUITE=reload): wrk drives
 * hello world through each stack twice for BENCH_RELOAD_DURATION seconds, once undisturbed and
 * once with SIGHUP sent to the master a second in; it prints requests sent, failed (non-2xx and
 * socket errors; the goal is 0), and p99 during the reload against p99 without one.
 *   serve   `portico serve examples/hello.mjs --workers 2` (gateway + master in one process)
 *   nginx   nginx -> uwsgi_pass -> `portico worker examples/hello.mjs --processes 2` (shared socket)
 * Environment: BENCH_RELOAD_DURATION (s, 5), BENCH_CONNECTIONS (32).
 */
import { join } from 'node:path';
import { startProcess, type Started } from '../support/child-process.js';
import { freePort } from '../support/free-port.js';
import { startNginx } from '../support/nginx.js';
import { porticoBin, repoRoot } from '../support/paths.js';
import { makeTmpDir } from '../support/tmp-dir.js';
import { track, trackFn } from './cleanup.js';
import { envInt } from './env-int.js';
import { fmtMs } from './report.js';
import { runWrk, type WrkOptions, type WrkResult } from './wrk-result.js';

interface Stack {
  id: string;
  url: string;
  master: Started;
}

interface ReloadRow {
  id: string;
  quiet: WrkResult;
  reload: WrkResult;
}

const failures = (r: WrkResult): number => r.non2xx + r.socketErrors;

async function startStacks(dir: string): Promise<Stack[]> {
  const hello = join(repoRoot, 'examples', 'hello.mjs');
  const port = await freePort();
  const serve = startProcess(process.execPath, [porticoBin, 'serve', hello, '--http', `127.0.0.1:${port}`, '--workers', '2', '--disable-logging'], { cwd: repoRoot });
  track('reload: serve', serve.child, () => serve.stop('SIGTERM'), 'SIGKILL');
  const socket = join(dir, 'reload.sock');
  const worker = startProcess(process.execPath, [porticoBin, 'worker', hello, '--socket', socket, '--processes', '2', '--chmod-socket', '666', '--disable-logging'], { cwd: repoRoot });
  track('reload: worker', worker.child, () => worker.stop('SIGTERM'), 'SIGKILL');
  await serve.waitFor(/portico master \d+: 2 worker\(s\) of .* behind/);
  await worker.waitFor(/portico master \d+: 2 worker\(s\) of .* accepting/);
  const nginx = await startNginx(dir, socket);
  trackFn(
    'reload: nginx',
    () => nginx.stop(),
    () => nginx.proc.child.kill('SIGKILL'),
  );
  return [
    { id: 'serve', url: `http://127.0.0.1:${port}/`, master: serve },
    { id: 'nginx', url: `${nginx.url}/`, master: worker },
  ];
}

/** One wrk run with a SIGHUP a second in; resolves once wrk is done and the reload finished. */
async function underReload(stack: Stack, o: WrkOptions, reloadsBefore: number): Promise<WrkResult> {
  const run = runWrk(stack.url, o);
  const hup = setTimeout(() => stack.master.child.kill('SIGHUP'), 1000);
  const result = await run;
  clearTimeout(hup);
  const done = stack.master.output().match(/chain reload done/g)?.length ?? 0;
  if (done <= reloadsBefore) throw new Error(`${stack.id}: the reload did not finish within the ${o.durationSec} s run; raise BENCH_RELOAD_DURATION`);
  return result;
}

export async function reloadBench(): Promise<void> {
  const durationSec = envInt('BENCH_RELOAD_DURATION', 5, 2);
  const connections = envInt('BENCH_CONNECTIONS', 32, 1);
  const o: WrkOptions = { threads: 1, connections, durationSec };
  const tmp = makeTmpDir('bench-reload');
  trackFn(
    'temp dir',
    async () => tmp.cleanup(),
    () => tmp.cleanup(),
  );
  const stacks = await startStacks(tmp.path);
  const rows: ReloadRow[] = [];
  for (const s of stacks) {
    await runWrk(s.url, { ...o, durationSec: 1 });
    const quiet = await runWrk(s.url, o);
    const before = s.master.output().match(/chain reload done/g)?.length ?? 0;
    const reload = await underReload(s, o, before);
    rows.push({ id: s.id, quiet, reload });
  }
  console.log(`\nchain reload under load (2 workers, wrk -c${connections} -d${durationSec}s, SIGHUP at 1 s)`);
  console.log('stack  | sent     | failed | p99 quiet  | p99 reload | p50 quiet  | p50 reload');
  for (const r of rows) {
    console.log(
      `${r.id.padEnd(6)} | ${String(r.reload.requests).padStart(8)} | ${String(failures(r.reload)).padStart(6)} | ${fmtMs(r.quiet.latencyP99Ms).padStart(10)} | ${fmtMs(r.reload.latencyP99Ms).padStart(10)} | ${fmtMs(r.quiet.latencyP50Ms).padStart(10)} | ${fmtMs(r.reload.latencyP50Ms).padStart(10)}`,
    );
  }
  const bad = rows.filter((r) => failures(r.reload) > 0 || failures(r.quiet) > 0);
  if (bad.length > 0) throw new Error(`failed requests during the reload run of ${bad.map((r) => r.id).join(', ')} (goal: 0)`);
}
