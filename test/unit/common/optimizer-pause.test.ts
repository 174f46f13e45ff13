// The optimizer's pause while a worker process starts (common/optimizer-pause.ts): resuming puts
// V8's flags back as they were, a tier that was off stays off, and resuming unpaused does nothing.
// V8's cachedDataVersionTag hashes its flags, so an equal tag is the same flags.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cachedDataVersionTag, setFlagsFromString } from 'node:v8';
import { pauseOptimizer, resumeOptimizer } from '../../../common/optimizer-pause.js';

describe('optimizer pause', () => {
  it('pausing changes the flags, resuming restores them, resuming again does nothing', () => {
    const before = cachedDataVersionTag();
    pauseOptimizer();
    assert.notEqual(cachedDataVersionTag(), before);
    resumeOptimizer();
    assert.equal(cachedDataVersionTag(), before);
    resumeOptimizer();
    assert.equal(cachedDataVersionTag(), before);
  });

  it('leaves off a tier that was off (as under node --no-turbofan)', () => {
    const before = cachedDataVersionTag();
    setFlagsFromString('--no-turbofan');
    const off = cachedDataVersionTag();
    try {
      pauseOptimizer();
      resumeOptimizer();
      assert.equal(cachedDataVersionTag(), off);
    } finally {
      setFlagsFromString('--turbofan');
    }
    assert.equal(cachedDataVersionTag(), before);
  });
});
