// The native link's stream table (gateway/link/link-connection.ts): a ring of slots by stream id,
// where a stream still open when its slot's next id comes moves aside and stays reachable.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { StreamTable } from '../../../../gateway/link/link-connection.js';

describe('StreamTable', () => {
  it('finds, deletes and counts streams by id, and lists them in id order', () => {
    const t = new StreamTable<string>();
    for (let id = 1; id <= 5; id++) t.set(id, `s${id}`);
    assert.equal(t.size, 5);
    assert.equal(t.get(3), 's3');
    assert.equal(t.delete(3), true);
    assert.equal(t.delete(3), false);
    assert.equal(t.get(3), undefined);
    assert.equal(t.size, 4);
    t.set(5, 'again');
    assert.equal(t.size, 4);
    assert.deepEqual(t.list(), [
      [1, 's1'],
      [2, 's2'],
      [4, 's4'],
      [5, 'again'],
    ]);
  });

  it('keeps a long stream when a thousand later ones came and went past its slot', () => {
    const t = new StreamTable<string>();
    t.set(1, 'long');
    for (let id = 2; id <= 1000; id++) {
      t.set(id, `s${id}`);
      assert.equal(t.get(id), `s${id}`);
      assert.equal(t.delete(id), true);
    }
    t.set(1001, 'open');
    assert.equal(t.get(1), 'long');
    assert.equal(t.size, 2);
    assert.deepEqual(t.list(), [
      [1, 'long'],
      [1001, 'open'],
    ]);
    assert.equal(t.delete(1), true);
    assert.equal(t.get(1), undefined);
    t.clear();
    assert.equal(t.size, 0);
    assert.equal(t.get(1001), undefined);
    assert.deepEqual(t.list(), []);
  });
});
