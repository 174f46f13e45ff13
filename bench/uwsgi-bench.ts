/**
 * `npm run bench`: hello world through real nginx (worker_processes 1) to three uwsgi backends on
 * unix sockets, on one machine, under one load tool (wrk), in alternating rounds of one run:
 *   portico  - `portico worker examples/hello.mjs` (a fetch app)
 *   uwsgi    - uWSGI 2.0 with the python3 plugin and bench/hello.py, one worker process
 *   bare     - bench/bare-responder.ts, the floor for any Node uwsgi worker
 * Environment: BENCH_DURATION (s, 5), BENCH_ROUNDS (3), BENCH_CONNECTIONS (32), BENCH_THREADS (1),
 * BENCH_WARMUP (s, 2), BENCH_BACKENDS (comma list, default portico,uwsgi,bare), BENCH_NODE_FLAGS
 * (flags for both Node backends, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
 * BENCH_SUITE=gateway runs bench/gateway-bench.ts instead (portico's HTTP gateway against fastify,
 * fastify + reply-from, nginx -> uWSGI, and nginx for static files), then bench/stream-bench.ts
 * (1 GiB up and down through `portico serve`, the gateway's and the worker's memory measured);
 * BENCH_SUITE=stream runs the streaming suite alone; BENCH_SUITE=scale bench/scale-bench.ts (issue 19:
 * process memory and start time, the spread over workers on a shared socket, idle connections).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { makeTmpDir } from '../support/tmp-dir.js';
import { NGINX } from '../support/nginx.js';
import { backendSpecs, commandLine, shellQuote, startBackend, type BackendId, type BackendSpec, type RunningBackend } from './backends.js';
import { installExitHandlers, interruptedBy, runBench, track, trackFn } from './cleanup.js';
import { reloadBench } from './reload-bench.js';
import { streamBench } from './stream-bench.js';
import { websocketBench } from './websocket-bench.js';
import { scaleBench } from './scale-bench.js';
import { alternatingRounds } from './rounds.js';
import { ratioTable, summarize, summaryTable, type RoundResult } from './report.js';
import { treeCpuSeconds } from './proc-cpu.js';
import { runWrk, wrkArgs, type WrkOptions } from './wrk-result.js';
import { envInt } from './env-int.js';

const ENV_KEYS = ['BENCH_DURATION', 'BENCH_ROUNDS', 'BENCH_CONNECTIONS', 'BENCH_THREADS', 'BENCH_WARMUP', 'BENCH_BACKENDS', 'BENCH_NODE_FLAGS'] as const;

function chosenBackends(all: BackendSpec[]): BackendSpec[] {
  const raw = process.env.BENCH_BACKENDS;
  if (!raw) return all;
  const ids = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const id of ids) if (!all.some((b) => b.id === id)) throw new Error(`BENCH_BACKENDS: unknown backend ${id} (portico, uwsgi, bare)`);
  return all.filter((b) => ids.includes(b.id));
}

/** Runs a suite script as a child sharing this terminal (stopped with this bench); resolves with how it exited. */
async function runChild(script: string): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const child = spawn(process.execPath, [...process.execArgv, script], { stdio: 'inherit' });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  track(
    script,
    child,
    async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
    'SIGKILL',
  );
  const [code, signal] = await exited;
  return { code, signal };
}

async function main(): Promise<void> {
  installExitHandlers();
  const durationSec = envInt('BENCH_DURATION', 5, 1);
  const rounds = envInt('BENCH_ROUNDS', 3, 1);
  const connections = envInt('BENCH_CONNECTIONS', 32, 1);
  const threads = envInt('BENCH_THREADS', 1, 1);
  const warmupSec = envInt('BENCH_WARMUP', 2, 0);
  const wrk: WrkOptions = { threads, connections, durationSec };

  const tmp = makeTmpDir('bench');
  trackFn(
    'temp dir',
    async () => tmp.cleanup(),
    () => tmp.cleanup(),
  );
  const nodeFlags = (process.env.BENCH_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
  const specs = chosenBackends(backendSpecs(tmp.path, nodeFlags));

  const envShown = ENV_KEYS.filter((k) => process.env[k]).map((k) => `${k}=${shellQuote(process.env[k]!)}`);
  console.log('# portico uwsgi benchmark: wrk -> nginx -> uwsgi backend on a unix socket, same machine');
  console.log(`command: ${[...envShown, 'npm run bench'].join(' ')}  (= npm run build:test && node dist-test/bench/uwsgi-bench.js)`);
  console.log(`load:    ${commandLine('wrk', wrkArgs('http://127.0.0.1:PORT/', wrk))}  (PORT: the nginx in front of each backend)`);
  console.log(`nginx:   ${NGINX} worker_processes 1, one instance per backend, deploy/nginx/portico-uwsgi-locations.conf`);
  for (const s of specs) console.log(`${(s.id + ':').padEnd(8)} ${commandLine(s.cmd, s.args)}`);
  console.log(
    `machine: ${cpus().length} cpus (${cpus()[0]?.model ?? '?'}), node ${process.version}; ` +
      `${rounds} rounds x ${specs.length} backends x ${durationSec}s, warm-up ${warmupSec}s each, order rotated every round\n`,
  );

  const running: RunningBackend[] = [];
  for (const s of specs) {
    const b = await startBackend(s, tmp.path);
    running.push(b);
    console.log(`started ${s.id}: pid ${b.proc.child.pid}, nginx on ${b.nginx.url}`);
  }

  let killWrk: (() => void) | null = null;
  trackFn(
    'wrk',
    async () => killWrk?.(),
    () => killWrk?.(),
  );
  const load = async (b: RunningBackend, o: WrkOptions, round: number): Promise<RoundResult> => {
    const backendPid = b.proc.child.pid!;
    const nginxPid = b.nginx.proc.child.pid!;
    const cpu0 = [treeCpuSeconds(backendPid), treeCpuSeconds(nginxPid)] as const;
    const w = await runWrk(`${b.nginx.url}/`, o, (kill) => (killWrk = kill));
    const perReq = (before: number, pid: number): number => ((treeCpuSeconds(pid) - before) * 1e6) / w.requests;
    return { round, backend: b.spec.id, wrk: w, backendCpuUs: perReq(cpu0[0], backendPid), nginxCpuUs: perReq(cpu0[1], nginxPid) };
  };

  const results = await alternatingRounds(running, (b) => b.spec.id, load, { wrk, rounds, warmupSec });

  const sums = running.map((b) => summarize(b.spec.id, b.spec.label, results));
  console.log(`\n${summaryTable(sums)}\n\n${ratioTable(sums)}\n`);
  const bad = results.filter((r) => r.wrk.non2xx > 0 || r.wrk.socketErrors > 0);
  if (bad.length === 0) {
    console.log('errors: none (every round: 0 non-2xx/3xx responses, 0 socket errors)');
  } else {
    console.log(`errors in ${bad.length} round(s):`);
    for (const r of bad) console.log(`  round ${r.round} ${r.backend}: ${r.wrk.non2xx} non-2xx/3xx; ${r.wrk.socketErrorDetail || 'no socket errors'}`);
  }
  const ids = new Set<BackendId>(running.map((b) => b.spec.id));
  const p = sums.find((s) => s.backend === 'portico');
  const bare = sums.find((s) => s.backend === 'bare');
  if (ids.has('portico') && ids.has('bare') && p && bare) {
    const ratio = p.medianRps / bare.medianRps;
    console.log(`portico reaches ${(ratio * 100).toFixed(0)}% of the bare Node responder's req/s${ratio < 0.85 ? ' (below the 85% target)' : ''}`);
  }
}

/**
 * The gateway suite, then the streaming suite. gateway-bench.ts runs itself on import and exits,
 * so it runs as a child (its own exit handlers stop its servers); 1 if either failed.
 */
async function gatewaySuites(): Promise<number> {
  const gateway = await runChild(fileURLToPath(new URL('./gateway-bench.js', import.meta.url)));
  if (gateway.signal || gateway.code === 130 || interruptedBy()) return 130;
  await streamBench();
  return gateway.code ?? 1;
}

// `npm run bench` runs every suite: this one, the chain reload under load (bench/reload-bench.ts),
// the gateway suite (bench/gateway-bench.ts) and the streaming suite (bench/stream-bench.ts).
// BENCH_SUITE=uwsgi|reload|stream runs one of them, BENCH_SUITE=gateway the gateway suite and
// then the streaming suite.
const suite = process.env.BENCH_SUITE || 'default';
if (suite === 'gateway') {
  await runBench(async () => {
    installExitHandlers();
    return gatewaySuites();
  });
} else if (suite === 'stream') {
  await runBench(async () => {
    installExitHandlers();
    await streamBench();
  });
} else if (suite === 'websocket') {
  await runBench(async () => {
    installExitHandlers();
    await websocketBench();
  });
} else if (suite === 'scale') {
  await runBench(async () => {
    installExitHandlers();
    await scaleBench();
  });
} else if (suite === 'reload') {
  await runBench(async () => {
    installExitHandlers();
    await reloadBench();
  });
} else if (suite !== 'uwsgi' && suite !== 'default') {
  console.error(`BENCH_SUITE must be uwsgi, reload, gateway (then stream), stream, websocket or scale (unset: all of them), not ${JSON.stringify(suite)}`);
  process.exit(2);
}

await runBench(async () => {
  await main();
  if (suite !== 'default') return 0;
  await reloadBench();
  const code = await gatewaySuites();
  await websocketBench();
  await scaleBench();
  return code;
});
