/**
 * The streaming suite (`BENCH_SUITE=stream npm run bench`; `BENCH_SUITE=gateway` runs it after the
 * gateway suite): a large upload and a large download through `portico serve`, over each link,
 * with the resident memory of the gateway and of the worker measured (issue 3: 1 GiB each way with
 * each process growing by less than 64 MiB).
 *   `portico serve test/fixtures/stream-app.mjs --http 127.0.0.1:PORT --workers 1 --disable-logging --link native|uwsgi --body-limit 2 GiB`
 * For each link: 4 MiB up and down to warm up, the baseline VmRSS of the gateway (the serve
 * process) and of the worker (its only child), then POST /count with BENCH_STREAM_MIB MiB
 * (Content-Length, generated chunk by chunk; the app answers the byte count) and
 * GET /generate?bytes=N read as fast as it comes. Growth is VmHWM (the peak so far) minus the
 * baseline; VmHWM only rises, so the download's figure is the peak over both transfers.
 * A wrong byte count or an HTTP error fails the run; the memory goal is reported, not enforced.
 * Environment: BENCH_STREAM_MIB (1024).
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest, type ClientRequest } from 'node:http';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { outputLine, startProcess, type Started } from '../support/child-process.js';
import { freePort } from '../support/free-port.js';
import { fixturesDir, porticoBin, repoRoot } from '../support/paths.js';
import { commandLine, shellQuote } from './backends.js';
import { track } from './cleanup.js';
import { envInt } from './env-int.js';

const LINKS = ['native', 'uwsgi'] as const;
type Link = (typeof LINKS)[number];
const MIB = 1024 * 1024;
const WARMUP_BYTES = 4 * MIB;
const GOAL_MIB = 64;
/** A transfer that moves no byte for this long fails instead of hanging the bench. */
const IDLE_MS = 30_000;
const CHUNK = Buffer.alloc(64 * 1024, 0x62);
/** Printed by serve's master once every worker accepts behind the listening gateway. */
const SERVE_READY = /portico master \d+: \d+ worker\(s\) of .* behind (http:\/\/\S+)/;

interface Row {
  link: Link;
  direction: 'upload' | 'download';
  bytes: number;
  seconds: number;
  /** VmHWM minus the baseline VmRSS, in bytes: the peak growth so far. */
  gatewayGrowth: number;
  workerGrowth: number;
  /** Why the transfer failed (wrong count, HTTP status, connection error); null when it passed. */
  error: string | null;
}

/** Resident memory of a process in bytes: VmRSS now, or VmHWM, its peak so far. */
function memory(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch (err) {
    throw new Error(`cannot read /proc/${pid}/status (${(err as Error).message}): the process is gone`);
  }
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text);
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** The serve process's forked worker: its only child. */
function onlyChild(pid: number): number {
  const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  if (kids.length !== 1) throw new Error(`serve ${pid} should have one worker child, has ${kids.length ? kids.join(', ') : 'none'}`);
  return Number(kids[0]);
}

/** `bytes` of generated data, made as the socket takes them, never held whole. */
function generated(bytes: number): Readable {
  let left = bytes;
  return new Readable({
    read() {
      if (left === 0) return void this.push(null);
      const n = Math.min(left, CHUNK.length);
      left -= n;
      this.push(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
      if (left === 0) this.push(null);
    },
  });
}

/** Settles once: the first outcome of a request (its answer, an error, an idle timeout) wins. */
function guarded<T>(start: (settle: (err: Error | null, value?: T) => void) => ClientRequest): Promise<T> {
  return new Promise((resolve, reject) => {
    let done = false;
    const settle = (err: Error | null, value?: T): void => {
      if (done) return;
      done = true;
      if (err) reject(err);
      else resolve(value as T);
    };
    const req = start(settle);
    req.setTimeout(IDLE_MS, () => {
      settle(new Error(`no byte moved for ${IDLE_MS / 1000} s`));
      req.destroy();
    });
    req.on('error', (err) => settle(err));
  });
}

/** POST /count with a Content-Length body of `bytes`; resolves with the status and the answer. */
function upload(base: URL, bytes: number): Promise<{ status: number; text: string }> {
  return guarded((settle) => {
    const req = httpRequest({ host: base.hostname, port: base.port, path: '/count', method: 'POST', agent: false, headers: { 'content-length': String(bytes) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => (text += s));
      res.on('end', () => settle(null, { status: res.statusCode ?? 0, text }));
      res.on('error', (err) => settle(err));
    });
    generated(bytes).pipe(req);
    return req;
  });
}

/** GET /generate?bytes=N read as fast as it arrives; resolves with the status and the bytes counted. */
function download(base: URL, bytes: number): Promise<{ status: number; received: number }> {
  return guarded((settle) => {
    const req = httpRequest({ host: base.hostname, port: base.port, path: `/generate?bytes=${bytes}`, agent: false }, (res) => {
      let received = 0;
      res.on('data', (c: Buffer) => (received += c.length));
      res.on('end', () => settle(null, { status: res.statusCode ?? 0, received }));
      res.on('error', (err) => settle(err));
    });
    req.end();
    return req;
  });
}

/** Why a transfer's outcome is wrong, or null when the app got / sent exactly `bytes`. */
async function transfer(direction: Row['direction'], base: URL, bytes: number): Promise<string | null> {
  if (direction === 'upload') {
    const r = await upload(base, bytes);
    if (r.status !== 200) return `HTTP ${r.status}: ${JSON.stringify(r.text.slice(0, 200))}`;
    if (r.text !== String(bytes)) return `the app counted ${JSON.stringify(r.text.slice(0, 40))} bytes, not ${bytes}`;
    return null;
  }
  const r = await download(base, bytes);
  if (r.status !== 200) return `HTTP ${r.status}`;
  if (r.received !== bytes) return `received ${r.received} bytes, not ${bytes}`;
  return null;
}

function serveArgs(link: Link, port: number, bodyLimit: number): string[] {
  return [porticoBin, 'serve', join(fixturesDir, 'stream-app.mjs'), '--http', `127.0.0.1:${port}`, '--workers', '1', '--disable-logging', '--link', link, '--body-limit', String(bodyLimit)];
}

async function startServe(link: Link, bodyLimit: number): Promise<{ proc: Started; base: URL }> {
  const proc = startProcess(process.execPath, serveArgs(link, await freePort(), bodyLimit), { cwd: repoRoot });
  track(`stream: serve --link ${link}`, proc.child, () => proc.stop('SIGTERM'), 'SIGKILL');
  const m = await outputLine(proc, SERVE_READY, 20_000);
  return { proc, base: new URL(m[1]!) };
}

/** SIGTERM, then SIGKILL if serve is still there after 10 s (the second link should not share the machine). */
async function stopServe(proc: Started): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), 10_000)));
  if ((await Promise.race([proc.stop('SIGTERM'), late])) === 'late') await proc.stop('SIGKILL');
  clearTimeout(timer);
}

/** One link: warm-up, baseline, then the upload and the download; a failure ends the link's rows. */
async function measureLink(link: Link, bytes: number, bodyLimit: number): Promise<Row[]> {
  const rows: Row[] = [];
  const row = (direction: Row['direction'], fields: Partial<Row>): Row => ({ link, direction, bytes, seconds: NaN, gatewayGrowth: NaN, workerGrowth: NaN, error: null, ...fields });
  let proc: Started | undefined;
  try {
    const started = await startServe(link, bodyLimit);
    proc = started.proc;
    const gatewayPid = proc.child.pid!;
    const workerPid = onlyChild(gatewayPid);
    for (const direction of ['upload', 'download'] as const) {
      const err = await transfer(direction, started.base, WARMUP_BYTES);
      if (err) throw new Error(`warm-up ${direction} of ${WARMUP_BYTES} bytes: ${err}`);
    }
    const base = { gateway: memory(gatewayPid, 'VmRSS'), worker: memory(workerPid, 'VmRSS') };
    const mib = (n: number): string => (n / MIB).toFixed(1);
    console.log(
      `${link}: gateway pid ${gatewayPid} VmRSS ${mib(base.gateway)} MiB (VmHWM ${mib(memory(gatewayPid, 'VmHWM'))}), ` +
        `worker pid ${workerPid} VmRSS ${mib(base.worker)} MiB (VmHWM ${mib(memory(workerPid, 'VmHWM'))}) after the ${WARMUP_BYTES / MIB} MiB warm-up`,
    );
    for (const direction of ['upload', 'download'] as const) {
      const t0 = process.hrtime.bigint();
      let err: string | null;
      try {
        err = await transfer(direction, started.base, bytes);
      } catch (e) {
        err = (e as Error).message;
      }
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (err) {
        rows.push(row(direction, { error: err }));
        break;
      }
      rows.push(
        row(direction, {
          seconds,
          gatewayGrowth: memory(gatewayPid, 'VmHWM') - base.gateway,
          workerGrowth: memory(workerPid, 'VmHWM') - base.worker,
        }),
      );
    }
  } catch (e) {
    const msg = (e as Error).message + (proc ? `\nserve output:\n${proc.output()}` : '');
    rows.push(row(rows.length === 0 ? 'upload' : 'download', { error: msg }));
  } finally {
    if (proc) await stopServe(proc);
  }
  return rows;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

export async function streamBench(): Promise<void> {
  const sizeMib = envInt('BENCH_STREAM_MIB', 1024, 1);
  const bytes = sizeMib * MIB;
  const bodyLimit = Math.max(2048 * MIB, 2 * bytes);
  const envShown = process.env.BENCH_STREAM_MIB ? [`BENCH_STREAM_MIB=${shellQuote(process.env.BENCH_STREAM_MIB)}`] : [];

  console.log(`\n# portico streaming benchmark: ${sizeMib} MiB up and down through portico serve, memory of the gateway and the worker`);
  console.log(`command: ${[...envShown, 'BENCH_SUITE=stream', 'npm run bench'].join(' ')}  (= npm run build:test && node dist-test/bench/uwsgi-bench.js -> streamBench)`);
  console.log(
    `serve:   ${commandLine(process.execPath, serveArgs('native', 0, bodyLimit))
      .replace(':0 ', ':PORT ')
      .replace('--link native', '--link native|uwsgi')}`,
  );
  console.log(`client:  node:http on 127.0.0.1, POST /count with Content-Length (64 KiB chunks generated as the socket takes them), GET /generate?bytes=N read as fast as it arrives`);
  console.log(`machine: ${cpus().length} cpus (${cpus()[0]?.model ?? '?'}), node ${process.version}\n`);

  const rows: Row[] = [];
  for (const link of LINKS) rows.push(...(await measureLink(link, bytes, bodyLimit)));

  const mib = (n: number): string => (Number.isFinite(n) ? (n / MIB).toFixed(1) : '-');
  const cells: string[][] = [['link', 'direction', 'MiB', 'seconds', 'MiB/s', 'gateway growth MiB', 'worker growth MiB']];
  for (const r of rows) {
    cells.push(
      r.error
        ? [r.link, r.direction, String(r.bytes / MIB), 'FAILED', '-', '-', '-']
        : [r.link, r.direction, String(r.bytes / MIB), r.seconds.toFixed(2), (r.bytes / MIB / r.seconds).toFixed(0), mib(r.gatewayGrowth), mib(r.workerGrowth)],
    );
  }
  console.log(`\n${table(cells)}\n`);
  console.log('growth: VmHWM (peak resident memory so far) minus VmRSS after the warm-up; VmHWM only rises, so a download row is the peak over the upload and the download\n');

  const failures = rows.filter((r) => r.error);
  const passed = rows.filter((r) => !r.error);
  if (passed.length === 0) {
    console.log(`goal stream RSS growth < ${GOAL_MIB} MiB: FAILED (errors)`);
  } else {
    const max = Math.max(...passed.flatMap((r) => [r.gatewayGrowth, r.workerGrowth]));
    console.log(`goal stream RSS growth < ${GOAL_MIB} MiB: ${max < GOAL_MIB * MIB ? 'met' : 'NOT met'} (max ${mib(max)} MiB)${failures.length ? ' (over the transfers that passed only)' : ''}`);
  }
  if (failures.length === 0) {
    console.log(`errors: none (every transfer: HTTP 200 and exactly ${bytes} bytes counted)`);
    return;
  }
  console.log(`errors in ${failures.length} transfer(s) (the run FAILED):`);
  for (const r of failures) console.log(`  ${r.link} ${r.direction}: ${r.error}`);
  throw new Error(`stream suite FAILED: ${failures.map((r) => `${r.link} ${r.direction}`).join(', ')}`);
}
