// Fuzz cases for a live worker's uwsgi socket, derived from the packets captured from real nginx
// and uWSGI (test/fixtures/vectors/). Shared by test/integration/worker/fuzz.test.ts (short) and bench/fuzz.ts
// (`npm run fuzz`, long), so both exercise the same mix and a failing case replays from its seed.
import { encodePacket } from '../protocol/uwsgi/packet-encoder.js';
import { rng } from './rng.js';
import type { RequestVector } from './vectors.js';

export const FUZZ_KINDS = ['vector', 'flip', 'truncated', 'length', 'modifier', 'random', 'big-random', 'vars-too-big', 'content-length', 'big-body', 'trailing', 'http'] as const;
export type FuzzKind = (typeof FUZZ_KINDS)[number];

export interface FuzzCase {
  index: number;
  kind: FuzzKind;
  bytes: Buffer;
  /** Offsets at which the bytes are split into separate writes (ascending, inside the buffer). */
  splits: number[];
}

/** What the worker logs for HTTP text on its socket starts with these two bytes' u16le. */
const HTTP_METHODS = ['GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS', 'PATCH'];

/** CONTENT_LENGTH spellings that are not a plain decimal number, or are but lie. */
const ODD_LENGTHS = ['', '-1', '0x10', '1e3', ' 7', '7 ', '+7', '007', '99999999999999999', 'abc', '5', '0'];

export type Rand = () => number;

export function int(rand: Rand, below: number): number {
  return Math.floor(rand() * below);
}

function randomBytes(rand: Rand, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = int(rand, 256);
  return out;
}

function pick<T>(rand: Rand, items: readonly T[]): T {
  return items[int(rand, items.length)]!;
}

/** The vector's vars with CONTENT_LENGTH (and the path, for echo) replaced, re-encoded. */
function withVars(v: RequestVector, set: Record<string, string>, body: Buffer): Buffer {
  const vars = v.vars.filter(([k]) => !(k in set));
  return encodePacket({ modifier1: v.modifier1, modifier2: v.modifier2, vars: [...vars, ...Object.entries(set)] }, body);
}

function build(kind: FuzzKind, v: RequestVector, rand: Rand): Buffer {
  const packet = v.packet;
  switch (kind) {
    case 'vector':
      return Buffer.from(packet);
    case 'flip': {
      const out = Buffer.from(packet);
      const n = 1 + int(rand, 8);
      for (let i = 0; i < n; i++) out[int(rand, out.length)] = int(rand, 256);
      return out;
    }
    case 'truncated':
      return packet.subarray(0, int(rand, packet.length));
    case 'length': {
      // A lying u16: the header's datasize or any var's key/value length.
      const out = Buffer.from(packet);
      const at = rand() < 0.3 ? 1 : 4 + int(rand, Math.max(1, out.length - 6));
      out.writeUInt16LE(int(rand, 65536), Math.min(at, out.length - 2));
      return out;
    }
    case 'modifier': {
      const out = Buffer.from(packet);
      out[0] = int(rand, 256);
      if (rand() < 0.5) out[3] = int(rand, 256);
      return out;
    }
    case 'random':
      return randomBytes(rand, int(rand, 600));
    case 'big-random':
      return randomBytes(rand, 64 * 1024 + int(rand, 192 * 1024));
    case 'vars-too-big': {
      // Over the default --buffer-size (4096) but still encodable (u16 datasize).
      const size = 4097 + int(rand, 55_000);
      return encodePacket({ vars: [...v.vars.filter(([k]) => k !== 'HTTP_X_PAD'), ['HTTP_X_PAD', 'x'.repeat(size)]] });
    }
    case 'content-length': {
      const cl = pick(rand, ODD_LENGTHS);
      return withVars(v, { CONTENT_LENGTH: cl }, randomBytes(rand, int(rand, 64)));
    }
    case 'big-body': {
      // Up to 1 MiB to /echo; a third of the time the body falls short of CONTENT_LENGTH.
      const n = int(rand, 1024 * 1024);
      const short = rand() < 0.33;
      const body = randomBytes(rand, short ? int(rand, n) : n);
      return withVars(v, { CONTENT_LENGTH: String(n), REQUEST_METHOD: 'POST', REQUEST_URI: '/echo', PATH_INFO: '/echo' }, body);
    }
    case 'trailing':
      // A whole packet followed by garbage or a second packet: nginx never does this.
      return Buffer.concat([packet, rand() < 0.5 ? randomBytes(rand, 1 + int(rand, 2000)) : packet]);
    case 'http': {
      const method = pick(rand, HTTP_METHODS);
      const lines = [`${method} /${rand() < 0.5 ? '' : 'x?y=1'} HTTP/1.${int(rand, 2)}`, 'Host: localhost', `User-Agent: fuzz`];
      if (method === 'POST' || method === 'PUT') lines.push('Content-Length: 3');
      return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${method === 'POST' || method === 'PUT' ? 'abc' : ''}`);
    }
  }
}

/**
 * Case i of the run seeded with `seed`, independent of every other case, so a failure names a
 * (seed, index) pair that rebuilds exactly its bytes. Kinds go round-robin so every kind appears
 * in any run of at least FUZZ_KINDS.length cases; the first 'http' case is always a GET (the
 * "invalid request block size 21573" line uWSGI users know).
 */
export function fuzzCase(seed: number, index: number, vectors: RequestVector[]): FuzzCase {
  const rand = rng((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  const kind = FUZZ_KINDS[index % FUZZ_KINDS.length]!;
  const v = pick(rand, vectors);
  let bytes = build(kind, v, rand);
  if (kind === 'http' && index < FUZZ_KINDS.length) bytes = Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
  const splits = new Set<number>();
  const pieces = int(rand, 4);
  for (let i = 0; i < pieces && bytes.length > 1; i++) splits.add(1 + int(rand, bytes.length - 1));
  return { index, kind, bytes, splits: [...splits].sort((a, b) => a - b) };
}
