/**
 * Part of `BENCH_SUITE=scale npm run bench` (issue 19 item 2): `portico serve examples/hello.mjs
 * --workers W` with the gateway in the master (--gateway-processes 0, today's default) against
 * --gateway-processes 2, alternating, wrk on the same port. Each round gives req/s and the CPU
 * each kind of process spent per request (user + system from /proc/PID/stat, over the wrk run):
 * the gateway (the master, or the gateway processes summed), the workers, and the master itself
 * under N = 2. On this 2-core machine wrk takes one core, so N = 2 cannot be faster; the CPU
 * per request is what docs/scaling.md's sizing model is built from.
 * BENCH_GATEWAY_WORKERS (1) workers.
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
  workers: number;
}

function cpuOf(master: number): Cpu {
  const kids = children(master);
  const sum = (pids: number[]): number => pids.reduce((s, p) => s + ownCpuSeconds(p), 0);
  return { master: ownCpuSeconds(master), gateways: sum(kids.filter(isGatewayProcess)), workers: sum(kids.filter((p) => !isGatewayProcess(p))) };
}

interface Round {
  rps: number;
  /** µs of CPU per request: the gateway (the master under N = 0), the workers, the master apart (N = 2). */
  gateway: number;
  workers: number;
  master: number;
}

async function oneRound(n: number, workers: number, wrk: WrkOptions, killWrk: (k: () => void) => void): Promise<Round> {
  const port = await freePort();
  const serve: Started = startProcess(process.execPath, [porticoBin, 'serve', HELLO, '--workers', String(workers), '--gateway-processes', String(n),
    '--http', `127.0.0.1:${port}`, '--disable-logging']);
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
  return { rps: w.requestsPerSec, gateway: n >= 2 ? gateways : master, workers: per(after.workers - before.workers), master: n >= 2 ? master : 0 };
}

export async function gatewayProcessesRounds(rounds: number, wrk: WrkOptions, killWrk: (k: () => void) => void): Promise<void> {
  const workers = envInt('BENCH_GATEWAY_WORKERS', 1, 1);
  console.log(`\n## gateways: portico serve examples/hello.mjs --workers ${workers} --gateway-processes 0 (in the master) against 2; wrk -t${wrk.threads} -c${wrk.connections} -d${wrk.durationSec}s; CPU per request from /proc`);
  const by = new Map<number, Round[]>([[0, []], [2, []]]);
  for (let round = 1; round <= rounds; round++) {
    for (const n of round % 2 === 1 ? [0, 2] : [2, 0]) {
      const r = await oneRound(n, workers, wrk, killWrk);
      by.get(n)!.push(r);
      console.log(`round ${round}, --gateway-processes ${n}: ${Math.round(r.rps)} req/s; CPU per request: gateway ${r.gateway.toFixed(1)} µs, workers ${r.workers.toFixed(1)} µs${n >= 2 ? `, master ${r.master.toFixed(1)} µs` : ''}`);
    }
  }
  const med = (n: number, k: keyof Round): number => median(by.get(n)!.map((r) => r[k]));
  const g = med(2, 'gateway');
  const w = med(2, 'workers');
  console.log(`medians: in the master ${Math.round(med(0, 'rps'))} req/s, gateway ${med(0, 'gateway').toFixed(1)} µs + workers ${med(0, 'workers').toFixed(1)} µs per request; ` +
    `2 gateway processes ${Math.round(med(2, 'rps'))} req/s (x${(med(2, 'rps') / med(0, 'rps')).toFixed(2)}), gateways ${g.toFixed(1)} µs + workers ${w.toFixed(1)} µs + master ${med(2, 'master').toFixed(1)} µs per request`);
  // docs/scaling.md's model: a gateway core forwards 1e6/g req/s, a worker core answers 1e6/w.
  console.log(`model: one gateway core ${Math.round(1e6 / g)} req/s, one worker core ${Math.round(1e6 / w)} req/s; gateway processes for C cores ~ C x ${(g / (g + w)).toFixed(2)}`);
}
