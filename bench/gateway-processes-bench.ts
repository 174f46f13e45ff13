/**
 * Part of `BENCH_SUITE=scale npm run bench` (issue 19 item 2): `portico serve examples/hello.mjs
 * --workers W` with the gateway in the master (--gateway-processes 0, today's default) against
 * --gateway-processes 2 with every gateway linked to every worker (what serve does) and with the
 * workers partitioned between the gateways (PORTICO_BENCH_GATEWAY_PARTITION=1), in turn, wrk on
 * the same port. Each round gives req/s and the CPU
 * each kind of process spent per request (user + system from /proc/PID/stat, over the wrk run):
 * the gateway (the master, or the gateway processes summed), the workers, and the master itself
 * under N = 2. On this 2-core machine wrk takes one core, so N = 2 cannot be faster; the CPU
 * per request is what docs/scaling.md's sizing model is built from.
 * BENCH_GATEWAY_WORKERS (2) workers.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startProcess, type Started } from '../support/child-process.js';
import { freePort } from '../support/free-port.js';
import { porticoBin, repoRoot } from '../support/paths.js';
import { track } from './cleanup.js';
import { envInt } from './env-int.js';
import { ownCpuSeconds } from './proc-cpu.js';
import { runWrk, type WrkOptions } from './wrk-result.js';

const HELLO = join(repoRoot, 'examples', 'hello.mjs');

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function children(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1').trim().split(/\s+/).filter(Boolean).map(Number);
}

function isGatewayProcess(pid: number): boolean {
  return readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('gateway-child.js');
}

interface Cpu {
  master: number;
  gateways: number;
  /** Each worker's, by pid. */
  workers: Map<number, number>;
}

function cpuOf(master: number): Cpu {
  const kids = children(master);
  const gateways = kids.filter(isGatewayProcess).reduce((s, p) => s + ownCpuSeconds(p), 0);
  return { master: ownCpuSeconds(master), gateways, workers: new Map(kids.filter((p) => !isGatewayProcess(p)).map((p) => [p, ownCpuSeconds(p)])) };
}

interface Round {
  rps: number;
  /** µs of CPU per request: the gateway (the master under N = 0), the workers, the master apart (N = 2). */
  gateway: number;
  workers: number;
  master: number;
  /** The busiest worker's CPU over the idlest's: how evenly the requests were spread. */
  spread: number;
}

interface Layout {
  name: string;
  n: number;
  partition: boolean;
}

const LAYOUTS: Layout[] = [
  { name: 'in the master', n: 0, partition: false },
  { name: '2 gateways, each to every worker', n: 2, partition: false },
  { name: '2 gateways, workers partitioned', n: 2, partition: true },
];

async function oneRound(layout: Layout, workers: number, wrk: WrkOptions, killWrk: (k: () => void) => void): Promise<Round> {
  const { n, partition } = layout;
  const port = await freePort();
  const env = { ...process.env, PORTICO_BENCH_GATEWAY_PARTITION: partition ? '1' : '0' };
  const serve: Started = startProcess(
    process.execPath,
    [porticoBin, 'serve', HELLO, '--workers', String(workers), '--gateway-processes', String(n), '--http', `127.0.0.1:${port}`, '--disable-logging'],
    { env },
  );
  track('portico serve', serve.child, () => serve.stop());
  await serve.waitFor(/portico master \d+: .* behind /);
  const url = `http://127.0.0.1:${port}/`;
  await runWrk(url, { ...wrk, durationSec: 2 }, killWrk);
  await sleep(500);
  const pid = serve.child.pid!;
  const before = cpuOf(pid);
  const w = await runWrk(url, wrk, killWrk);
  const after = cpuOf(pid);
  await serve.stop();
  const per = (s: number): number => (s * 1e6) / w.requests;
  const master = per(after.master - before.master);
  const gateways = per(after.gateways - before.gateways);
  const each = [...after.workers].map(([p, s]) => s - (before.workers.get(p) ?? 0));
  const workersCpu = each.reduce((a, b) => a + b, 0);
  return { rps: w.requestsPerSec, gateway: n >= 2 ? gateways : master, workers: per(workersCpu), master: n >= 2 ? master : 0, spread: Math.max(...each) / Math.min(...each) };
}

export async function gatewayProcessesRounds(rounds: number, wrk: WrkOptions, killWrk: (k: () => void) => void): Promise<void> {
  const workers = envInt('BENCH_GATEWAY_WORKERS', 2, 1);
  console.log(
    `\n## gateways: portico serve examples/hello.mjs --workers ${workers}: the gateway in the master against 2 gateway processes (each linked to every worker, or to half of them); wrk -t${wrk.threads} -c${wrk.connections} -d${wrk.durationSec}s; CPU per request from /proc`,
  );
  const by = new Map<Layout, Round[]>(LAYOUTS.map((l) => [l, []]));
  for (let round = 1; round <= rounds; round++) {
    // Each round starts with the next layout: none always runs first.
    const order = LAYOUTS.map((_, i) => LAYOUTS[(i + round - 1) % LAYOUTS.length]!);
    for (const layout of order) {
      const r = await oneRound(layout, workers, wrk, killWrk);
      by.get(layout)!.push(r);
      console.log(
        `round ${round}, ${layout.name}: ${Math.round(r.rps)} req/s; CPU per request: gateway ${r.gateway.toFixed(1)} µs, workers ${r.workers.toFixed(1)} µs${layout.n >= 2 ? `, master ${r.master.toFixed(1)} µs` : ''}; busiest/idlest worker CPU ${r.spread.toFixed(2)}`,
      );
    }
  }
  const med = (l: Layout, k: keyof Round): number => median(by.get(l)!.map((r) => r[k]));
  const [inMaster, mesh] = LAYOUTS as [Layout, Layout, Layout];
  console.log('medians:');
  for (const l of LAYOUTS) {
    console.log(
      `  ${l.name}: ${Math.round(med(l, 'rps'))} req/s (x${(med(l, 'rps') / med(inMaster, 'rps')).toFixed(2)}), gateway ${med(l, 'gateway').toFixed(1)} µs + workers ${med(l, 'workers').toFixed(1)} µs` +
        `${l.n >= 2 ? ` + master ${med(l, 'master').toFixed(1)} µs` : ''} = ${(med(l, 'gateway') + med(l, 'workers') + med(l, 'master')).toFixed(1)} µs per request; busiest/idlest worker ${med(l, 'spread').toFixed(2)}`,
    );
  }
  const g = med(mesh, 'gateway');
  const w = med(mesh, 'workers');
  // docs/scaling.md's model: a gateway core forwards 1e6/g req/s, a worker core answers 1e6/w.
  console.log(
    `model (2 gateways, each to every worker): one gateway core ${Math.round(1e6 / g)} req/s, one worker core ${Math.round(1e6 / w)} req/s; gateway processes for C cores ~ C x ${(g / (g + w)).toFixed(2)}`,
  );
}
