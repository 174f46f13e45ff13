import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { isPorticoError } from '../../../../common/errors.js';
import { PacketDecoder } from '../../../../protocol/uwsgi/packet-decoder.js';
import { rng } from '../../../../support/rng.js';
import { requestVectors } from '../../../../support/vectors.js';

function mutate(packet: Buffer, rand: () => number): Buffer {
  const out = Buffer.from(packet);
  const kind = Math.floor(rand() * 4);
  if (kind === 0) {
    for (let i = 0; i < 1 + rand() * 8; i++) out[Math.floor(rand() * out.length)] = Math.floor(rand() * 256);
    return out;
  }
  if (kind === 1) return out.subarray(0, Math.floor(rand() * out.length));
  if (kind === 2) {
    const at = 4 + Math.floor(rand() * Math.max(1, out.length - 6));
    out.writeUInt16LE(Math.floor(rand() * 65536), Math.min(at, out.length - 2));
    return out;
  }
  const random = Buffer.alloc(Math.floor(rand() * 600));
  for (let i = 0; i < random.length; i++) random[i] = Math.floor(rand() * 256);
  return random;
}

describe('decoder fuzz (bounded)', () => {
  it('raises nothing but PORTICO_ERR_* on random and mutated packets, split anywhere', () => {
    const seeds = requestVectors().map((v) => v.packet);
    const rand = rng(0x5eed);
    const ITERATIONS = 3000;
    const codes = new Map<string, number>();
    for (let i = 0; i < ITERATIONS; i++) {
      const input = mutate(seeds[i % seeds.length]!, rand);
      let error: unknown = null;
      const d = new PacketDecoder(
        {
          onHead: () => {},
          onBody: () => {},
          onEnd: () => {},
          onError: (e) => (error = e),
        },
        { bufferSize: 1 + Math.floor(rand() * 8192) },
      );
      try {
        let pos = 0;
        while (pos < input.length) {
          const n = 1 + Math.floor(rand() * 64);
          d.push(input.subarray(pos, pos + n));
          pos += n;
        }
        d.end();
      } catch (thrown) {
        assert.fail(`iteration ${i} threw ${String(thrown)} instead of reporting a PORTICO_ERR_*`);
      }
      if (error !== null) {
        assert.ok(isPorticoError(error), `iteration ${i}: ${String(error)}`);
        codes.set(error.code, (codes.get(error.code) ?? 0) + 1);
      }
    }
    // The mutations must have reached the decoder's error paths, or this test proves nothing.
    for (const code of ['PORTICO_ERR_TRUNCATED_PACKET', 'PORTICO_ERR_VARS_TOO_BIG', 'PORTICO_ERR_BAD_VAR_LENGTH', 'PORTICO_ERR_UNKNOWN_MODIFIER']) {
      assert.ok((codes.get(code) ?? 0) > 0, `no case reached ${code}: ${JSON.stringify([...codes])}`);
    }
  });
});
