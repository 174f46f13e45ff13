/**
 * `BENCH_SUITE=scale npm run bench` (issue 19): in one run,
 *   light  - an idle `portico worker examples/hello.mjs --processes 1`: the master's and the
 *            worker's VmRSS (/proc/PID/status, 1 s after the first answer) and the time from the
 *            spawn to the first answered uwsgi request (polled on the socket), alternating with a
 *            bare node:http hello world (bench/node-http-hello.ts) for reference;
 *   spread - nginx -> one shared socket -> `portico worker --processes 4`, wrk through nginx: each
 *            worker's requests from the --stats server (max/min) and wrk's p99;
 *   idle   - BENCH_IDLE (10000) idle keep-alive client connections (bench/idle-conns.ts) on one
 *            of two `portico serve` started together: its RSS before and after (KiB per
 *            connection), and wrk's p99 on it against the other, alternating which runs first.
 * BENCH_DURATION (5 s), BENCH_ROUNDS (3), BENCH_CONNECTIONS (32).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { uwsgiRequest } from '../protocol/uwsgi/uwsgi-client.js';
import { fetchStats } from '../master/stats-client.js';
import { startProcess, startWithHardFdLimit, type Started } from '../support/child-process.js';
import { freePort } from '../support/free-port.js';
import { startNginx } from '../support/nginx.js';
import { porticoBin, repoRoot } from '../support/paths.js';
import { makeTmpDir } from '../support/tmp-dir.js';
import { track, trackFn } from './cleanup.js';
import { envInt } from './env-int.js';
import { gatewayProcessesRounds } from './gateway-processes-bench.js';
import { runWrk, type WrkOptions } from './wrk-result.js';

const HELLO = join(repoRoot, 'examples', 'hello.mjs');
const BARE = join(import.meta.dirname, 'node-http-hello.js');
const IDLE = join(import.meta.dirname, 'idle-conns.js');

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mb = (kib: number): string => `${(kib / 1024).toFixed(1)} MB`;

function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))?.[1] ?? NaN);
}

function childPids(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1').trim().split(/\s+/).filter(Boolean).map(Number);
}

function started(name: string, p: Started): Started {
  track(name, p.child, () => p.stop());
  return p;
}

/** Polls the socket until a request is answered; ms from `t0`. */
async function firstAnswerMs(socket: string, t0: number): Promise<number> {
  for (;;) {
    const res = await uwsgiRequest({ socket, path: '/' }).catch(() => null);
    if (res?.status === 200) return performance.now() - t0;
    await sleep(2);
  }
}

async function lightRounds(dir: string, rounds: number): Promise<void> {
  console.log('\n## light: an idle hello-world worker (portico worker examples/hello.mjs --processes 1 --disable-logging)');
  const masters: number[] = [];
  const workers: number[] = [];
  const firsts: number[] = [];
  const bare: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const kind of round % 2 === 1 ? ['portico', 'bare'] : ['bare', 'portico']) {
      const sock = join(dir, `light-${kind}-${round}.sock`);
      if (kind === 'bare') {
        const p = started('bare hello', startProcess(process.execPath, [BARE, sock]));
        await p.waitFor(/listening on /);
        await sleep(1000);
        bare.push(rssKiB(p.child.pid!));
        await p.stop();
        continue;
      }
      const t0 = performance.now();
      const p = started('portico worker', startProcess(process.execPath, [porticoBin, 'worker', HELLO, '--socket', sock, '--processes', '1', '--disable-logging']));
      firsts.push(await firstAnswerMs(sock, t0));
      await sleep(1000);
      masters.push(rssKiB(p.child.pid!));
      workers.push(rssKiB(childPids(p.child.pid!)[0]!));
      await p.stop();
      console.log(
        `round ${round}: first answer ${firsts.at(-1)!.toFixed(0)} ms after the spawn; master ${mb(masters.at(-1)!)}, worker ${mb(workers.at(-1)!)}; bare node:http ${bare.length ? mb(bare.at(-1)!) : '-'}`,
      );
    }
  }
  const w = median(workers);
  const m = median(masters);
  const f = median(firsts);
  console.log(
    `medians: worker ${mb(w)} (goal <= 50 MB${w <= 50 * 1024 ? ', met' : ', NOT met'}), master ${mb(m)} (goal <= 50 MB${m <= 50 * 1024 ? ', met' : ', NOT met'}), ` +
      `bare node:http hello ${mb(median(bare))} (worker/bare ${(w / median(bare)).toFixed(2)}); start to first answer ${f.toFixed(0)} ms (goal <= 500 ms${f <= 500 ? ', met' : ', NOT met'})`,
  );
}

async function statsRequests(stats: string): Promise<number[]> {
  const s = await fetchStats(stats);
  return s.workers.map((w) => w.requests);
}

/** One `portico worker --processes 4` on a shared socket behind its own nginx, with --accept-busy `busy`. */
async function startSpread(dir: string, busy: number): Promise<{ url: string; stats: string; stop: () => Promise<void> }> {
  const sock = join(dir, `spread-${busy}.sock`);
  const stats = join(dir, `spread-${busy}-stats.sock`);
  const nginx = await startNginx(dir, sock);
  trackFn(
    'nginx',
    () => nginx.stop(),
    () => nginx.proc.child.kill('SIGKILL'),
  );
  const p = started(
    'portico worker x4',
    startProcess(process.execPath, [porticoBin, 'worker', HELLO, '--socket', sock, '--processes', '4', '--chmod-socket', '666', '--stats', stats, '--disable-logging', '--accept-busy', String(busy)]),
  );
  await p.waitFor(/accepting on /);
  return {
    url: `${nginx.url}/`,
    stats,
    stop: async () => {
      await p.stop();
      await nginx.stop();
    },
  };
}

async function spreadRounds(dir: string, rounds: number, wrk: WrkOptions, killWrk: (k: () => void) => void): Promise<void> {
  const busy = envInt('BENCH_ACCEPT_BUSY', 1, 1);
  console.log(`\n## spread: nginx -> one shared socket -> portico worker --processes 4, --accept-busy 0 (off) against ${busy}; wrk -c${wrk.connections} -d${wrk.durationSec}s through nginx`);
  const targets = [
    { id: 'off', busy: 0 },
    { id: `busy ${busy}`, busy },
  ];
  const running = await Promise.all(targets.map((t) => startSpread(dir, t.busy)));
  for (const r of running) await runWrk(r.url, { ...wrk, durationSec: 2 }, killWrk);
  const results = targets.map(() => ({ ratios: [] as number[], p99s: [] as number[], rps: [] as number[] }));
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? [0, 1] : [1, 0];
    for (const i of order) {
      const r = running[i]!;
      const before = await statsRequests(r.stats);
      const w = await runWrk(r.url, wrk, killWrk);
      const after = await statsRequests(r.stats);
      const served = after.map((n, k) => n - (before[k] ?? 0));
      const ratio = Math.max(...served) / Math.max(1, Math.min(...served));
      results[i]!.ratios.push(ratio);
      results[i]!.p99s.push(w.latencyP99Ms);
      results[i]!.rps.push(w.requestsPerSec);
      console.log(
        `round ${round} ${targets[i]!.id.padEnd(7)}: per worker ${served.join(' / ')} requests, max/min ${ratio.toFixed(2)}; ${Math.round(w.requestsPerSec)} req/s, p99 ${w.latencyP99Ms.toFixed(2)} ms${w.non2xx || w.socketErrors ? ` (${w.non2xx} non-2xx, ${w.socketErrors} socket errors)` : ''}`,
      );
    }
  }
  targets.forEach((t, i) => {
    const r = results[i]!;
    const ratio = median(r.ratios);
    console.log(`medians ${t.id.padEnd(7)}: max/min ${ratio.toFixed(2)} (goal <= 1.3${ratio <= 1.3 ? ', met' : ', NOT met'}), ${Math.round(median(r.rps))} req/s, p99 ${median(r.p99s).toFixed(2)} ms`);
  });
  const [off, on] = results;
  console.log(`--accept-busy ${busy} against off: req/s x${(median(on!.rps) / median(off!.rps)).toFixed(2)}, p99 x${(median(on!.p99s) / median(off!.p99s)).toFixed(2)}`);
  for (const r of running) await r.stop();
}

async function idleRounds(rounds: number, wrk: WrkOptions, killWrk: (k: () => void) => void): Promise<void> {
  const n = envInt('BENCH_IDLE', 10_000, 1);
  console.log(`\n## idle: ${n} idle keep-alive connections on one of two portico serve (--workers 1, --max-connections ${n * 2}); wrk -c${wrk.connections} -d${wrk.durationSec}s on each in turn`);
  const perConn: number[] = [];
  const ratios: number[] = [];
  // Two gateways started together, the idle connections on one of them: each wrk run meets a
  // process at the same point of its life, so what differs is the idle connections alone. (One
  // gateway measured before and after them compared a process just warmed up with one that had
  // just opened or closed 10,000 sockets, whose garbage the run then paid for.)
  const startServe = async (): Promise<{ serve: Started; url: string }> => {
    const port = await freePort();
    // The gateway holds n connections: file descriptors past the usual soft limit of 1024.
    const serve = started(
      'portico serve',
      startWithHardFdLimit(process.execPath, [
        porticoBin,
        'serve',
        HELLO,
        '--workers',
        '1',
        '--http',
        `127.0.0.1:${port}`,
        '--max-connections',
        String(n * 2),
        '--keepalive-timeout',
        '600',
        '--disable-logging',
      ]),
    );
    await serve.waitFor(/accepting|http on|ready/i);
    return { serve, url: `http://127.0.0.1:${port}/` };
  };
  for (let round = 1; round <= rounds; round++) {
    const bare = await startServe();
    const loaded = await startServe();
    for (const g of [bare, loaded]) await runWrk(g.url, { ...wrk, durationSec: 2 }, killWrk);
    await sleep(1000);
    const pid = loaded.serve.child.pid!;
    const before = rssKiB(pid);
    const client = started('idle connections', startWithHardFdLimit(process.execPath, [IDLE, new URL(loaded.url).port, String(n)]));
    await client.waitFor(/\{"open":\d+\}/);
    await sleep(1000);
    const after = rssKiB(pid);
    // Alternating: odd rounds run on the gateway without the idle connections first.
    const first = round % 2 === 1 ? bare : loaded;
    const second = first === bare ? loaded : bare;
    const r1 = await runWrk(first.url, wrk, killWrk);
    const r2 = await runWrk(second.url, wrk, killWrk);
    const [without, withIdle] = first === bare ? [r1, r2] : [r2, r1];
    client.child.kill('SIGTERM');
    const closed = await client.waitFor(/\{"closedByServer":(\d+)\}/);
    await client.stop();
    await bare.serve.stop();
    await loaded.serve.stop();
    const kib = (after - before) / n;
    perConn.push(kib);
    const ratio = withIdle.latencyP99Ms / without.latencyP99Ms;
    ratios.push(ratio);
    console.log(
      `round ${round}: gateway RSS ${mb(before)} -> ${mb(after)}: ${kib.toFixed(2)} KiB per idle connection (${closed[1]} closed by the gateway meanwhile); ` +
        `p99 ${without.latencyP99Ms.toFixed(2)} ms without, ${withIdle.latencyP99Ms.toFixed(2)} ms with them (x${ratio.toFixed(2)}); ${Math.round(without.requestsPerSec)} / ${Math.round(withIdle.requestsPerSec)} req/s`,
    );
  }
  console.log(
    `medians: ${median(perConn).toFixed(2)} KiB per idle connection (goal <= 10${median(perConn) <= 10 ? ', met' : ', NOT met'}), ` +
      `p99 with/without x${median(ratios).toFixed(2)} (goal <= 1.2${median(ratios) <= 1.2 ? ', met' : ', NOT met'})`,
  );
}

export async function scaleBench(): Promise<void> {
  const rounds = envInt('BENCH_ROUNDS', 3, 1);
  const wrk: WrkOptions = { threads: 1, connections: envInt('BENCH_CONNECTIONS', 32, 1), durationSec: envInt('BENCH_DURATION', 5, 1) };
  const tmp = makeTmpDir('bench-scale');
  trackFn(
    'temp dir',
    async () => tmp.cleanup(),
    () => tmp.cleanup(),
  );
  let kill: (() => void) | null = null;
  trackFn(
    'wrk',
    async () => kill?.(),
    () => kill?.(),
  );
  const killWrk = (k: () => void): void => {
    kill = k;
  };
  console.log(`\n# scale (issue 19): BENCH_SUITE=scale npm run bench, ${rounds} rounds`);
  // BENCH_SCALE_PART=light, =idle or =gateways runs that part alone.
  const part = process.env.BENCH_SCALE_PART ?? '';
  if (part === '' || part === 'light') await lightRounds(tmp.path, rounds);
  if (part === '') await spreadRounds(tmp.path, rounds, wrk, killWrk);
  if (part === '' || part === 'idle') await idleRounds(rounds, wrk, killWrk);
  if (part === '' || part === 'gateways') await gatewayProcessesRounds(rounds, wrk, killWrk);
}
