/**
 * `BENCH_SUITE=websocket npm run bench`: WebSocket echo through portico against the same ws echo
 * server run directly by Node, in one run, alternating: `portico serve` (gateway + native link +
 * worker) against the direct server, and nginx uwsgi_pass -> portico worker against nginx
 * proxy_pass -> the direct server. 64-byte messages, one in flight per connection, over
 * BENCH_WS_CONNECTIONS (100) connections for BENCH_DURATION (5) s, BENCH_ROUNDS (3) rounds; then
 * the memory an idle upgraded connection costs the gateway and the worker (BENCH_WS_IDLE, 10000,
 * connections held open through portico serve, RSS before and after).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startProcess, startWithHardFdLimit, type Started } from '../support/child-process.js';
import { freePort } from '../support/free-port.js';
import { GATEWAY_SITE, startNginx, type Nginx } from '../support/nginx.js';
import { porticoBin } from '../support/paths.js';
import { makeTmpDir } from '../support/tmp-dir.js';
import { track, trackFn } from './cleanup.js';
import { envInt } from './env-int.js';

const APP = join(import.meta.dirname, 'ws-echo.js');
const LOAD = join(import.meta.dirname, 'ws-load.js');

interface Target {
  id: string;
  url: string;
}

function started(name: string, p: Started): Started {
  track(name, p.child, () => p.stop());
  return p;
}

async function load(url: string, conns: number, seconds: number): Promise<number> {
  const p = startProcess(process.execPath, [LOAD, url, String(conns), String(seconds)]);
  const m = await p.waitFor(/\{"messages":(\d+),"seconds":([\d.]+)\}/);
  await p.stop();
  return Number(m[1]) / Number(m[2]);
}

function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))?.[1] ?? NaN);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function websocketBench(): Promise<void> {
  const seconds = envInt('BENCH_DURATION', 5, 1);
  const rounds = envInt('BENCH_ROUNDS', 3, 1);
  const conns = envInt('BENCH_WS_CONNECTIONS', 100, 1);
  const idle = envInt('BENCH_WS_IDLE', 10_000, 1);
  const tmp = makeTmpDir('bench-ws');
  trackFn(
    'temp dir',
    async () => tmp.cleanup(),
    () => tmp.cleanup(),
  );
  console.log('\n# websocket: 64-byte echo, one message in flight per connection (bench/ws-load.ts), same machine');
  console.log(`command: BENCH_SUITE=websocket npm run bench  (${conns} connections, ${seconds} s, ${rounds} rounds)`);

  const directPort = await freePort();
  const direct = started('ws direct', startProcess(process.execPath, [APP], { env: { ...process.env, WS_ECHO_PORT: String(directPort) } }));
  await direct.waitFor(/ws echo listening/);
  const servePort = await freePort();
  // Room for the idle connections below: the gateway's --max-connections (10,000 by default)
  // and the descriptors of every process holding them (the shell raises the soft limit to the hard).
  const serve = started(
    'portico serve',
    startWithHardFdLimit(process.execPath, [porticoBin, 'serve', APP, '--workers', '1', '--http', `127.0.0.1:${servePort}`, '--disable-logging', '--max-connections', String(idle + 1000)]),
  );
  await serve.waitFor(/worker\(s\) of .* behind/);
  const sock = join(tmp.path, 'worker.sock');
  const worker = started('portico worker', startProcess(process.execPath, [porticoBin, 'worker', APP, '--socket', sock, '--processes', '1', '--chmod-socket', '666', '--disable-logging']));
  await worker.waitFor(/node app .* on /);
  const nginxWorker: Nginx = await startNginx(join(tmp.path, 'nginx-worker'), sock);
  trackFn(
    'nginx -> worker',
    () => nginxWorker.stop(),
    () => undefined,
  );
  const nginxDirect: Nginx = await startNginx(join(tmp.path, 'nginx-direct'), `127.0.0.1:${directPort}`, '', GATEWAY_SITE);
  trackFn(
    'nginx -> direct',
    () => nginxDirect.stop(),
    () => undefined,
  );

  const ws = (httpUrl: string): string => httpUrl.replace(/^http/, 'ws');
  const targets: Target[] = [
    { id: 'direct', url: `ws://127.0.0.1:${directPort}/` },
    { id: 'serve', url: `ws://127.0.0.1:${servePort}/` },
    { id: 'nginx-direct', url: `${ws(nginxDirect.url)}/` },
    { id: 'nginx-worker', url: `${ws(nginxWorker.url)}/` },
  ];
  const results = new Map<string, number[]>(targets.map((t) => [t.id, []]));
  for (const t of targets) await load(t.url, conns, 1); // warm-up
  for (let round = 0; round < rounds; round++) {
    const start = round % targets.length;
    for (const t of [...targets.slice(start), ...targets.slice(0, start)]) {
      const rate = await load(t.url, conns, seconds);
      results.get(t.id)!.push(rate);
      console.log(`round ${round + 1} ${t.id.padEnd(13)} ${Math.round(rate)} msg/s`);
    }
  }
  const m = (id: string): number => median(results.get(id)!);
  console.log('');
  console.log(`median: direct ${Math.round(m('direct'))}, portico serve ${Math.round(m('serve'))} msg/s = ${(m('serve') / m('direct')).toFixed(2)}x the direct server`);
  console.log(`median: nginx -> direct ${Math.round(m('nginx-direct'))}, nginx -> portico worker ${Math.round(m('nginx-worker'))} msg/s = ${(m('nginx-worker') / m('nginx-direct')).toFixed(2)}x`);

  // Idle connections through portico serve: what each one costs the gateway (the master's process) and the worker.
  const workerPid = Number(/portico worker (\d+): node app/.exec(serve.output())?.[1]);
  const gatewayPid = serve.child.pid!;
  const before = { gateway: rssKiB(gatewayPid), worker: rssKiB(workerPid) };
  const holder = startWithHardFdLimit(process.execPath, [LOAD, `ws://127.0.0.1:${servePort}/`, String(idle), 'idle'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  track('idle holder', holder.child, () => holder.stop());
  await holder.waitFor(/^open$/m);
  const after = { gateway: rssKiB(gatewayPid), worker: rssKiB(workerPid) };
  holder.child.stdin?.end();
  await holder.stop();
  const per = (k: 'gateway' | 'worker'): string => `${((after[k] - before[k]) / idle).toFixed(1)} KiB`;
  console.log(`idle upgraded connections through portico serve: ${idle} held; per connection: gateway ${per('gateway')}, worker ${per('worker')} (RSS, /proc/PID/status)`);
}
