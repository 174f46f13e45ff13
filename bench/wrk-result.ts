import { spawn } from 'node:child_process';

/** What `npm run bench` reads from one `wrk --latency` run. */
export interface WrkResult {
  requests: number;
  requestsPerSec: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  /** "Non-2xx or 3xx responses" (absent from wrk's output when 0). */
  non2xx: number;
  /** Sum of connect, read, write and timeout socket errors (absent when all are 0). */
  socketErrors: number;
  socketErrorDetail: string;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** wrk prints durations as 812.00us, 1.23ms, 2.01s, 1.00m. */
export function parseDurationMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new Error(`wrk: cannot parse duration ${JSON.stringify(text)}`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

export function parseWrkOutput(out: string): WrkResult {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(out);
  const total = /^\s*(\d+) requests in /m.exec(out);
  const p50 = /^\s+50(?:\.000)?%\s+(\S+)/m.exec(out);
  const p99 = /^\s+99(?:\.000)?%\s+(\S+)/m.exec(out);
  if (!rps || !total || !p50 || !p99) throw new Error(`wrk: unexpected output (was --latency given?):\n${out}`);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = sock ? sock.slice(1, 5).reduce((a, b) => a + Number(b), 0) : 0;
  return {
    requests: Number(total[1]),
    requestsPerSec: Number(rps[1]),
    latencyP50Ms: parseDurationMs(p50[1]!),
    latencyP99Ms: parseDurationMs(p99[1]!),
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors,
    socketErrorDetail: sock ? sock[0] : '',
  };
}

export interface WrkOptions {
  threads: number;
  connections: number;
  durationSec: number;
}

export function wrkArgs(url: string, o: WrkOptions): string[] {
  return [`-t${o.threads}`, `-c${o.connections}`, `-d${o.durationSec}s`, '--latency', url];
}

/** Runs wrk to completion. `track` sees the child so an interrupted bench can kill it. */
export function runWrk(url: string, o: WrkOptions, track?: (kill: () => void) => void): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', wrkArgs(url, o), { stdio: ['ignore', 'pipe', 'pipe'] });
    track?.(() => child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'ENOENT' ? new Error('wrk is not installed: apt-get install -y wrk (Debian), then npm run bench again') : err));
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`wrk exited with ${String(code)}:\n${out}`));
      try {
        resolve(parseWrkOutput(out));
      } catch (err) {
        reject(err);
      }
    });
  });
}
