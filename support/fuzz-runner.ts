// Drives fuzz cases (support/fuzz-cases.ts) into a live worker's socket and judges each
// connection: the worker must answer or close it, and keep serving valid requests in between.
import { readFileSync } from 'node:fs';
import { workerOptions } from '../config/option-schema.js';
import { connect } from 'node:net';
import { NATIVE_MODIFIER1 } from '../protocol/link/constants.js';
import { PacketDecoder } from '../protocol/uwsgi/packet-decoder.js';
import { parseResponseHead } from '../protocol/uwsgi/response-head-parser.js';
import { uwsgiRequest } from '../protocol/uwsgi/uwsgi-client.js';
import { FUZZ_KINDS, fuzzCase, int, type FuzzCase, type FuzzKind } from './fuzz-cases.js';
import { rng } from './rng.js';
import type { RequestVector } from './vectors.js';

export interface FuzzFailure {
  seed: number;
  index: number;
  kind: FuzzKind | 'valid';
  reason: string;
  /** The case's first bytes in hex, to recognise it without replaying. */
  head: string;
}

export interface FuzzRunOptions {
  socket: string;
  vectors: RequestVector[];
  seed: number;
  cases: number;
  /** A valid request after every `validEvery` fuzz cases; those cases run concurrently. */
  validEvery: number;
  /** Past this a connection counts as hung and fails the run. */
  timeoutMs: number;
  /** The worker's --buffer-size, so a case's expected outcome is judged as the worker will. */
  bufferSize?: number;
}

export interface FuzzStats {
  cases: number;
  valid: number;
  /** Cases whose connection carried an HTTP response back (the rest were closed without one). */
  answered: number;
  /** Cases that were HTTP GET text: each must log "invalid request block size 21573". */
  httpGets: number;
  byKind: Record<string, number>;
  failures: FuzzFailure[];
  elapsedMs: number;
}

const MODIFIERS: ReadonlySet<number> = new Set([0, NATIVE_MODIFIER1]);

/**
 * Whether the worker owes this case a response: a whole modifier1-0 packet, as its own decoder
 * sees it. Such connections stay open for writing, as nginx keeps them, so the worker must answer
 * and close. Every other case is half-closed after its bytes, as a client that gives up would.
 */
export function owesResponse(bytes: Buffer, bufferSize = 4096): boolean {
  let whole = false;
  let failed = false;
  let modifier1 = -1;
  const d = new PacketDecoder(
    {
      onHead: (h) => (modifier1 = h.modifier1),
      onBody: () => {},
      onEnd: () => (whole = true),
      onError: () => (failed = true),
    },
    { bufferSize, modifiers: MODIFIERS },
  );
  d.push(bytes);
  return whole && !failed && modifier1 === 0;
}

function judge(res: Buffer, owed: boolean, hello: boolean): string | null {
  if (res.length === 0) return owed ? 'closed without a response to a whole packet' : null;
  // modifier1 77 asks for the native link: its refusal is a HELLO_ACK frame (type 16), not HTTP.
  if (hello) return res[0] === 16 && res.length >= 5 && res.readUInt32LE(1) === res.length - 5 ? null : `not a HELLO_ACK frame: ${res.subarray(0, 32).toString('hex')}`;
  try {
    const head = parseResponseHead(res);
    if (head === null) return `closed inside the response head: ${JSON.stringify(res.subarray(0, 80).toString('latin1'))}`;
    return null;
  } catch (err) {
    return `malformed response (${(err as Error).message})`;
  }
}

/** Resolves with a failure reason, or null once the worker answered or closed as it should. */
function sendCase(socketPath: string, c: FuzzCase, owed: boolean, timeoutMs: number): Promise<{ reason: string | null; answered: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    let connected = false;
    const sock = connect(socketPath);
    const done = (reason: string | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ reason, answered: chunks.length > 0 });
    };
    const timer = setTimeout(() => {
      done(`neither answered nor closed within ${timeoutMs} ms (${owed ? 'write side open, response owed' : 'half-closed'})`);
      sock.destroy();
    }, timeoutMs);
    sock.on('data', (d: Buffer) => chunks.push(d));
    // A worker that closes on bad input while bytes are still on their way resets the connection:
    // that is a close, judged at 'close' like any other.
    let connectError = '';
    sock.on('error', (err) => {
      if (!connected) connectError = err.message;
    });
    sock.on('close', () => done(connected ? judge(Buffer.concat(chunks), owed, c.bytes[0] === NATIVE_MODIFIER1) : `connect failed: ${connectError}`));
    sock.on('connect', () => {
      connected = true;
      void (async () => {
        let from = 0;
        for (const to of [...c.splits, c.bytes.length]) {
          if (sock.destroyed) return;
          const ok = await new Promise<boolean>((r) => sock.write(c.bytes.subarray(from, to), (err) => r(!err)));
          if (!ok) return;
          from = to;
        }
        if (!owed && !sock.destroyed) sock.end();
      })();
    });
  });
}

async function validRequest(o: FuzzRunOptions, n: number): Promise<string | null> {
  const rand = rng((o.seed + n * 7919) >>> 0);
  const body = Buffer.concat([Buffer.from(`valid-${o.seed}-${n}:`), Buffer.alloc(int(rand, 8192), int(rand, 256))]);
  try {
    const res = await uwsgiRequest({ socket: o.socket, method: 'POST', path: '/echo', body, timeoutMs: o.timeoutMs });
    if (res.status !== 200) return `status ${res.status}`;
    if (!res.body.equals(body)) return `echoed ${res.body.length} bytes, not the ${body.length} sent`;
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Runs cases [0, cases) of `seed`, a valid request after each batch of `validEvery`. */
export async function runFuzz(o: FuzzRunOptions): Promise<FuzzStats> {
  const started = performance.now();
  const stats: FuzzStats = { cases: 0, valid: 0, answered: 0, httpGets: 0, byKind: Object.fromEntries(FUZZ_KINDS.map((k) => [k, 0])), failures: [], elapsedMs: 0 };
  for (let first = 0; first < o.cases; first += o.validEvery) {
    const batch: Array<Promise<void>> = [];
    for (let i = first; i < Math.min(first + o.validEvery, o.cases); i++) {
      const c = fuzzCase(o.seed, i, o.vectors);
      const owed = owesResponse(c.bytes, o.bufferSize);
      batch.push(
        sendCase(o.socket, c, owed, o.timeoutMs).then(({ reason, answered }) => {
          stats.cases++;
          stats.byKind[c.kind]!++;
          if (answered) stats.answered++;
          if (c.bytes.subarray(0, 4).toString('latin1') === 'GET ') stats.httpGets++;
          if (reason !== null) stats.failures.push({ seed: o.seed, index: i, kind: c.kind, reason, head: c.bytes.subarray(0, 32).toString('hex') });
        }),
      );
    }
    await Promise.all(batch);
    const reason = await validRequest(o, first);
    stats.valid++;
    if (reason !== null) stats.failures.push({ seed: o.seed, index: first, kind: 'valid', reason: `valid request after batch ${first}: ${reason}`, head: '' });
  }
  stats.elapsedMs = performance.now() - started;
  return stats;
}

/**
 * Arguments that keep `portico worker` one process, so the child's pid is the process whose RSS
 * is measured: with a master (where the CLI has one), the requests would go to its children.
 */
export function singleProcessArgs(): string[] {
  return 'master' in workerOptions ? ['--no-master'] : [];
}

/** VmRSS of a live process, in bytes (Linux /proc). */
export function vmRssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

export function formatFailure(f: FuzzFailure): string {
  return `seed ${f.seed} case ${f.index} (${f.kind}): ${f.reason}${f.head ? ` [${f.head}]` : ''}`;
}
