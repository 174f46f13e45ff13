/**
 * `BENCH_SUITE=gateway npm run bench`: portico's HTTP gateway against what a Node user runs today
 * and against nginx, on one machine, under one load tool (wrk straight at each front), in
 * alternating rounds of one run:
 *   portico-1w / portico-2w  `portico serve examples/hello.mjs --http ... --workers 1|2 --disable-logging`
 *   portico-direct           `portico worker examples/hello.mjs --http-socket ... --processes 1 --disable-logging`:
 *                            the worker parses HTTP itself (no gateway hop); its master's CPU counts too
 *   portico-otel             portico-1w with --otel: every request's spans (gateway receive, link, app)
 *                            exported as OTLP/HTTP protobuf to a collector stand-in in this process
 *                            (support/otlp-collector.ts, discarding; its CPU is not counted)
 *   fastify                  fastify answering hello world in-process (bench/fastify-hello.ts)
 *   reply-from               fastify + @fastify/reply-from -> node:http hello on a unix socket
 *   uwsgi                    nginx -> uWSGI 2.0 + bench/hello.py (1 process), as in the uwsgi suite
 *   nginx-4k / nginx-1m      nginx serving a 4 KiB / 1 MiB file (bench/static-nginx.ts)
 *   portico-4k / portico-1m  the same files from `portico serve ... --workers 1 --static /static=DIR`
 * A round with any non-2xx/3xx response or socket error fails its target: no rate is reported.
 * Environment: BENCH_DURATION (s, 5), BENCH_ROUNDS (3), BENCH_CONNECTIONS (32), BENCH_THREADS (1),
 * BENCH_WARMUP (s, 2), BENCH_TARGETS (comma list of the ids above, default all), BENCH_NODE_FLAGS.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { startProcess, type Started } from '../support/child-process.js';
import { freePort } from '../support/free-port.js';
import { NGINX, type Nginx } from '../support/nginx.js';
import { porticoBin, repoRoot } from '../support/paths.js';
import { makeTmpDir } from '../support/tmp-dir.js';
import { startCollector } from '../support/otlp-collector.js';
import { backendSpecs, commandLine, shellQuote, startBackend } from './backends.js';
import { installExitHandlers, runBench, track, trackFn } from './cleanup.js';
import { ownCpuSeconds, treeCpuSeconds } from './proc-cpu.js';
import { failed, fmtRatio, ratioTable, summarize, summaryTable, type RoundResult, type Summary } from './report.js';
import { alternatingRounds } from './rounds.js';
import { startStaticNginx } from './static-nginx.js';
import { runWrk, wrkArgs, type WrkOptions } from './wrk-result.js';
import { envInt } from './env-int.js';

const ENV_KEYS = ['BENCH_SUITE', 'BENCH_DURATION', 'BENCH_ROUNDS', 'BENCH_CONNECTIONS', 'BENCH_THREADS', 'BENCH_WARMUP', 'BENCH_TARGETS', 'BENCH_NODE_FLAGS'] as const;

type ServerId = 'portico-1w' | 'portico-2w' | 'portico-direct' | 'portico-otel' | 'portico-static' | 'fastify' | 'reply-from' | 'uwsgi' | 'nginx-static';

/** One running stack: the processes whose CPU it spends and the one that takes wrk's connections. */
interface Server {
  id: ServerId;
  url: string;
  /** Roots of every process of the stack (CPU of each tree counts). */
  pids: number[];
  /** The HTTP front alone (without its children): the gateway, the proxy, nginx. */
  frontPid: number;
  frontTree: boolean;
}

interface Target {
  id: string;
  label: string;
  server: ServerId;
  path: string;
  /** What GET path must answer, checked before the rounds. */
  body: Buffer;
}

const HELLO = Buffer.from('Hello World');

/** GET url until it answers (a server is ready when it serves, whatever it logs); then it must be 200 + body. */
async function checkUrl(id: string, url: string, body: Buffer, proc?: Started, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc && (proc.child.exitCode !== null || proc.child.signalCode !== null)) throw new Error(`${id} exited before serving; output:\n${proc.output()}`);
    let res: Response;
    try {
      res = await fetch(url, { redirect: 'manual' });
    } catch {
      if (Date.now() > deadline) throw new Error(`${id}: ${url} not answering after ${timeoutMs} ms${proc ? `; output:\n${proc.output()}` : ''}`);
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    const got = Buffer.from(await res.arrayBuffer());
    if (res.status !== 200 || !got.equals(body)) {
      throw new Error(`${id}: GET ${url} gave ${res.status} with ${got.length} bytes ${JSON.stringify(got.subarray(0, 80).toString())}, not 200 with the expected ${body.length} bytes`);
    }
    return;
  }
}

function startNode(id: string, args: string[], env?: NodeJS.ProcessEnv): Started {
  const proc = startProcess(process.execPath, args, { cwd: repoRoot, env });
  track(id, proc.child, () => proc.stop('SIGTERM'), 'SIGKILL');
  return proc;
}

async function main(): Promise<number> {
  installExitHandlers();
  const durationSec = envInt('BENCH_DURATION', 5, 1);
  const rounds = envInt('BENCH_ROUNDS', 3, 1);
  const connections = envInt('BENCH_CONNECTIONS', 32, 1);
  const threads = envInt('BENCH_THREADS', 1, 1);
  const warmupSec = envInt('BENCH_WARMUP', 2, 0);
  const wrk: WrkOptions = { threads, connections, durationSec };
  const nodeFlags = (process.env.BENCH_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);

  const tmp = makeTmpDir('bench-gw');
  trackFn(
    'temp dir',
    async () => tmp.cleanup(),
    () => tmp.cleanup(),
  );
  const staticDir = join(tmp.path, 'static');
  const files = { '4k': randomBytes(4096), '1m': randomBytes(1 << 20) };
  mkdirSync(staticDir, { mode: 0o755 });
  for (const [name, data] of Object.entries(files)) writeFileSync(join(staticDir, `${name}.bin`), data, { mode: 0o644 });

  const hello = join(repoRoot, 'examples', 'hello.mjs');
  const benchFile = (f: string): string => join(import.meta.dirname, f);
  const ports = { p1: await freePort(), p2: await freePort(), direct: await freePort(), otel: await freePort(), ps: await freePort(), fastify: await freePort(), proxy: await freePort() };
  const appSock = join(tmp.path, 'node-http.sock');
  const serveArgs = (port: number, workers: number, extra: string[] = []): string[] => [
    ...nodeFlags,
    porticoBin,
    'serve',
    hello,
    '--http',
    `127.0.0.1:${port}`,
    '--workers',
    String(workers),
    '--disable-logging',
    ...extra,
  ];
  const directArgs = [...nodeFlags, porticoBin, 'worker', hello, '--http-socket', `127.0.0.1:${ports.direct}`, '--processes', '1', '--disable-logging'];
  const uwsgiSpec = backendSpecs(tmp.path).find((s) => s.id === 'uwsgi')!;

  const all: Target[] = [
    { id: 'portico-1w', label: 'portico serve, 1 worker', server: 'portico-1w', path: '/', body: HELLO },
    { id: 'portico-2w', label: 'portico serve, 2 workers', server: 'portico-2w', path: '/', body: HELLO },
    { id: 'portico-direct', label: 'portico worker --http-socket, 1 process', server: 'portico-direct', path: '/', body: HELLO },
    { id: 'portico-otel', label: 'portico serve --otel, 1 worker', server: 'portico-otel', path: '/', body: HELLO },
    { id: 'fastify', label: 'fastify in-process', server: 'fastify', path: '/', body: HELLO },
    { id: 'reply-from', label: 'fastify + reply-from -> node:http on unix', server: 'reply-from', path: '/', body: HELLO },
    { id: 'uwsgi', label: 'nginx -> uWSGI + Python, 1 process', server: 'uwsgi', path: '/', body: HELLO },
    { id: 'nginx-4k', label: 'nginx static 4 KiB', server: 'nginx-static', path: '/static/4k.bin', body: files['4k'] },
    { id: 'portico-4k', label: 'portico --static 4 KiB', server: 'portico-static', path: '/static/4k.bin', body: files['4k'] },
    { id: 'nginx-1m', label: 'nginx static 1 MiB', server: 'nginx-static', path: '/static/1m.bin', body: files['1m'] },
    { id: 'portico-1m', label: 'portico --static 1 MiB', server: 'portico-static', path: '/static/1m.bin', body: files['1m'] },
  ];
  const wanted = (process.env.BENCH_TARGETS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const id of wanted) if (!all.some((t) => t.id === id)) throw new Error(`BENCH_TARGETS: unknown target ${id} (${all.map((t) => t.id).join(', ')})`);
  const targets = wanted.length ? all.filter((t) => wanted.includes(t.id)) : all;

  const commands: Record<ServerId, string> = {
    'portico-1w': commandLine(process.execPath, serveArgs(ports.p1, 1)),
    'portico-2w': commandLine(process.execPath, serveArgs(ports.p2, 2)),
    'portico-direct': commandLine(process.execPath, directArgs),
    'portico-otel': `OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:PORT ${commandLine(process.execPath, serveArgs(ports.otel, 1, ['--otel']))}`,
    'portico-static': commandLine(process.execPath, serveArgs(ports.ps, 1, ['--static', `/static=${staticDir}`])),
    fastify: commandLine(process.execPath, [...nodeFlags, benchFile('fastify-hello.js'), String(ports.fastify)]),
    'reply-from': `${commandLine(process.execPath, [...nodeFlags, benchFile('node-http-hello.js'), appSock])} & ${commandLine(process.execPath, [...nodeFlags, benchFile('fastify-reply-from.js'), String(ports.proxy), appSock])}`,
    uwsgi: `${commandLine(uwsgiSpec.cmd, uwsgiSpec.args)} & ${NGINX} (worker_processes 1, deploy/nginx/portico-uwsgi-locations.conf)`,
    'nginx-static': `${NGINX} (worker_processes 1, sendfile, location /static/ { alias DIR/; }, bench/static-nginx.ts)`,
  };

  const envShown = ENV_KEYS.filter((k) => process.env[k]).map((k) => `${k}=${shellQuote(process.env[k]!)}`);
  console.log('# portico gateway benchmark: wrk -> each HTTP front on 127.0.0.1, same machine');
  console.log(`command: ${[...envShown, 'npm run bench'].join(' ')}  (= npm run build:test && node dist-test/bench/uwsgi-bench.js -> dist-test/bench/gateway-bench.js)`);
  console.log(`load:    ${commandLine('wrk', wrkArgs('http://127.0.0.1:PORT/PATH', wrk))}`);
  const serverIds = [...new Set(targets.map((t) => t.server))];
  for (const s of serverIds) console.log(`${(s + ':').padEnd(16)}${commands[s]}`);
  console.log(
    `machine: ${cpus().length} cpus (${cpus()[0]?.model ?? '?'}), node ${process.version}; ` +
      `${rounds} rounds x ${targets.length} targets x ${durationSec}s, warm-up ${warmupSec}s each, order rotated every round\n`,
  );

  const servers = new Map<ServerId, Server>();
  const viaNginx = (id: ServerId, nginx: Nginx, others: number[]): Server => ({ id, url: nginx.url, pids: [nginx.proc.child.pid!, ...others], frontPid: nginx.proc.child.pid!, frontTree: true });
  for (const id of serverIds) {
    let s: Server;
    if (id === 'portico-otel') {
      const collector = await startCollector({ discard: true });
      trackFn(
        'otlp collector',
        () => collector.close(),
        () => undefined,
      );
      const proc = startNode(id, serveArgs(ports.otel, 1, ['--otel']), { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint });
      s = { id, url: `http://127.0.0.1:${ports.otel}`, pids: [proc.child.pid!], frontPid: proc.child.pid!, frontTree: false };
      await checkUrl(id, `${s.url}/`, HELLO, proc);
    } else if (id === 'portico-1w' || id === 'portico-2w' || id === 'portico-static') {
      const port = id === 'portico-1w' ? ports.p1 : id === 'portico-2w' ? ports.p2 : ports.ps;
      const proc = startNode(id, serveArgs(port, id === 'portico-2w' ? 2 : 1, id === 'portico-static' ? ['--static', `/static=${staticDir}`] : []));
      s = { id, url: `http://127.0.0.1:${port}`, pids: [proc.child.pid!], frontPid: proc.child.pid!, frontTree: false };
      await checkUrl(id, `${s.url}/`, HELLO, proc);
    } else if (id === 'portico-direct') {
      const proc = startNode(id, directArgs);
      // The front is the worker (a child of the master); its master is part of the stack.
      s = { id, url: `http://127.0.0.1:${ports.direct}`, pids: [proc.child.pid!], frontPid: proc.child.pid!, frontTree: true };
      await checkUrl(id, `${s.url}/`, HELLO, proc);
    } else if (id === 'fastify') {
      const proc = startNode(id, [...nodeFlags, benchFile('fastify-hello.js'), String(ports.fastify)]);
      s = { id, url: `http://127.0.0.1:${ports.fastify}`, pids: [proc.child.pid!], frontPid: proc.child.pid!, frontTree: true };
      await checkUrl(id, `${s.url}/`, HELLO, proc);
    } else if (id === 'reply-from') {
      const app = startNode('node-http-hello', [...nodeFlags, benchFile('node-http-hello.js'), appSock]);
      await app.waitFor(/listening/);
      const proxy = startNode(id, [...nodeFlags, benchFile('fastify-reply-from.js'), String(ports.proxy), appSock]);
      s = { id, url: `http://127.0.0.1:${ports.proxy}`, pids: [proxy.child.pid!, app.child.pid!], frontPid: proxy.child.pid!, frontTree: true };
      await checkUrl(id, `${s.url}/`, HELLO, proxy);
    } else if (id === 'uwsgi') {
      const b = await startBackend(uwsgiSpec, tmp.path);
      s = viaNginx(id, b.nginx, [b.proc.child.pid!]);
    } else {
      const nginx = await startStaticNginx(tmp.path, '/static/', staticDir);
      track('static nginx', nginx.proc.child, () => nginx.stop(), 'SIGTERM');
      s = viaNginx(id, nginx, []);
    }
    servers.set(id, s);
    console.log(`started ${id}: pids ${s.pids.join(', ')} on ${s.url}`);
  }
  for (const t of targets) await checkUrl(t.id, servers.get(t.server)!.url + t.path, t.body);

  let killWrk: (() => void) | null = null;
  trackFn(
    'wrk',
    async () => killWrk?.(),
    () => killWrk?.(),
  );
  const load = async (t: Target, o: WrkOptions, round: number): Promise<RoundResult> => {
    const s = servers.get(t.server)!;
    const total = (): number => s.pids.reduce((a, p) => a + treeCpuSeconds(p), 0);
    const front = (): number => (s.frontTree ? treeCpuSeconds(s.frontPid) : ownCpuSeconds(s.frontPid));
    const cpu0 = [total(), front()] as const;
    const w = await runWrk(s.url + t.path, o, (kill) => (killWrk = kill));
    const perReq = (now: number, before: number): number => ((now - before) * 1e6) / w.requests;
    return { round, backend: t.id, wrk: w, backendCpuUs: perReq(total(), cpu0[0]), nginxCpuUs: perReq(front(), cpu0[1]) };
  };

  // Hello world and static files are compared within their own group, and run as two groups:
  // rotated together, the 1 MiB rounds (gigabytes through loopback TCP) came right before the
  // next hello-world target in every round but one, and slowed whatever came next by up to a third.
  const results: RoundResult[] = [];
  for (const group of [targets.filter((t) => !t.server.includes('static')), targets.filter((t) => t.server.includes('static'))]) {
    if (group.length === 0) continue;
    results.push(
      ...(await alternatingRounds(group, (t) => t.id, load, {
        wrk,
        rounds,
        warmupSec,
        label: (line) => line.replace(/ backend /, ' total ').replace(/ nginx /, ' front '),
      })),
    );
  }
  // The body still has to be right after the load, not only before it.
  for (const t of targets) await checkUrl(t.id, servers.get(t.server)!.url + t.path, t.body);

  const sums = targets.map((t) => summarize(t.id, t.label, results));
  const pairs: Array<[string, string]> = [
    ['portico-otel', 'portico-1w'],
    ['portico-1w', 'fastify'],
    ['portico-direct', 'fastify'],
    ['portico-1w', 'reply-from'],
    ['portico-2w', 'fastify'],
    ['portico-2w', 'reply-from'],
    ['portico-1w', 'uwsgi'],
    ['portico-2w', 'uwsgi'],
    ['portico-4k', 'nginx-4k'],
    ['portico-1m', 'nginx-1m'],
  ];
  console.log(`\n${summaryTable(sums, ['cpu/req (all)', 'cpu/req (front)'])}\n`);
  console.log(
    'cpu/req: CPU of every process of the stack per request; front: the HTTP front alone (portico serve: the gateway without its workers; portico-direct: its master and worker; reply-from: the proxy; uwsgi and static: nginx)\n',
  );
  console.log(`${ratioTable(sums, pairs, 'cpu/req (all)')}\n`);

  const bad = results.filter((r) => r.wrk.non2xx > 0 || r.wrk.socketErrors > 0);
  if (bad.length === 0) {
    console.log('errors: none (every round: 0 non-2xx/3xx responses, 0 socket errors; every target answered 200 + the expected body before and after)');
  } else {
    console.log(`errors in ${bad.length} round(s) (those targets FAILED):`);
    for (const r of bad) console.log(`  round ${r.round} ${r.backend}: ${r.wrk.non2xx} non-2xx/3xx; ${r.wrk.socketErrorDetail || 'no socket errors'}`);
  }
  const by = new Map<string, Summary>(sums.map((s) => [s.backend, s]));
  const goal = (a: string, b: string, min: number): void => {
    const x = by.get(a);
    const y = by.get(b);
    if (!x || !y) return;
    if (failed(x) || failed(y)) return console.log(`goal ${a}/${b} >= ${min}x: FAILED (errors)`);
    const r = x.medianRps / y.medianRps;
    console.log(`goal ${a}/${b} >= ${min}x: ${fmtRatio(r)} ${r >= min ? 'met' : 'NOT met'}`);
  };
  goal('portico-1w', 'fastify', 0.75);
  goal('portico-1w', 'reply-from', 2);
  // Issue 19 item 5: a request through portico costs no more CPU than fastify answering it in-process.
  for (const a of ['portico-1w', 'portico-direct']) {
    const x = by.get(a);
    const y = by.get('fastify');
    if (!x || !y || failed(x) || failed(y)) continue;
    const r = x.medianBackendCpuUs / y.medianBackendCpuUs;
    console.log(`goal ${a} cpu/req <= 1.0x fastify's: ${fmtRatio(r)} ${r <= 1 ? 'met' : 'NOT met'}`);
  }
  return bad.length > 0 ? 1 : 0;
}

await runBench(main);
