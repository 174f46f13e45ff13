// When the master starts a dead worker again (master/respawn-backoff.ts): at once after a worker
// that lived --min-worker-lifetime, and after a doubling wait, up to 30 s, for each one in a row
// that died younger; the streak is per worker id and ends with the first worker that lives.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RespawnBackoff } from '../../../master/respawn-backoff.js';

describe('RespawnBackoff', () => {
  it('a worker that lived its minimum lifetime is replaced at once, with no streak', () => {
    const backoff = new RespawnBackoff(1000);
    assert.deepEqual(backoff.died(1, 1000), { delayMs: 0, streak: 0 }, 'exactly the minimum counts as lived');
    assert.deepEqual(backoff.died(1, 60_000), { delayMs: 0, streak: 0 });
  });

  it('young deaths in a row: the first at once, then 1 s, 2 s, 4 s... doubling up to 30 s', () => {
    const backoff = new RespawnBackoff(1000);
    const delays = Array.from({ length: 9 }, () => backoff.died(1, 999).delayMs);
    assert.deepEqual(delays, [0, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
    assert.equal(backoff.died(1, 0).streak, 10, 'the streak goes on counting past the cap');
  });

  it('a worker that lives ends the streak: the next young death starts again at once', () => {
    const backoff = new RespawnBackoff(1000);
    backoff.died(1, 10);
    backoff.died(1, 10);
    assert.deepEqual(backoff.died(1, 10), { delayMs: 2000, streak: 3 });
    assert.deepEqual(backoff.died(1, 5000), { delayMs: 0, streak: 0 });
    assert.deepEqual(backoff.died(1, 10), { delayMs: 0, streak: 1 });
    assert.deepEqual(backoff.died(1, 10), { delayMs: 1000, streak: 2 });
  });

  it('each worker id has its own streak: one crashing slot does not slow the others', () => {
    const backoff = new RespawnBackoff(1000);
    for (let i = 0; i < 4; i++) backoff.died(1, 0);
    assert.deepEqual(backoff.died(2, 0), { delayMs: 0, streak: 1 });
    assert.deepEqual(backoff.died(1, 0), { delayMs: 8000, streak: 5 });
    backoff.died(2, 2000);
    assert.deepEqual(backoff.died(1, 0), { delayMs: 16_000, streak: 6 }, 'worker 2 living does not reset worker 1');
  });
});
