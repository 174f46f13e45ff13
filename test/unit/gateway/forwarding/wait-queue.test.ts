// The requests waiting for an upstream slot (gateway/forwarding/wait-queue.ts): a bounded FIFO; a
// slot goes to the first waiter that accepts it, so none is free for a newcomer to take; a waiter
// whose client goes away leaves the queue.
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
import { WaitQueue } from '../../../../gateway/forwarding/wait-queue.js';

const any = (): boolean => true;

describe('WaitQueue', () => {
  it('hands items over in arrival order, to the first waiter that accepts each', async () => {
    const q = new WaitQueue<string>(10);
    const onlyB = q.enter((x) => x === 'b', new AbortController().signal)!;
    const first = q.enter(any, new AbortController().signal)!;
    const second = q.enter(any, new AbortController().signal)!;
    assert.equal(q.handOver('a'), true);
    assert.equal(q.handOver('b'), true);
    assert.equal(q.handOver('c'), true);
    assert.deepEqual(await Promise.all([onlyB, first, second]), ['b', 'a', 'c']);
    assert.equal(q.length, 0);
    assert.equal(q.handOver('d'), false, 'nobody waits: the item stays with the giver');
  });

  it('an item nobody accepts is not taken, and the waiters keep their places', () => {
    const q = new WaitQueue<number>(10);
    void q.enter((n) => n > 5, new AbortController().signal);
    assert.equal(q.handOver(1), false);
    assert.equal(q.length, 1);
  });

  it('at its limit, no one more enters', () => {
    const q = new WaitQueue<number>(1);
    assert.ok(q.enter(any, new AbortController().signal));
    assert.equal(q.enter(any, new AbortController().signal), undefined);
  });

  it('a waiter whose signal aborts leaves with null, and the next item goes to the one behind it', async () => {
    const q = new WaitQueue<number>(10);
    const gone = new AbortController();
    const leaving = q.enter(any, gone.signal)!;
    const staying = q.enter(any, new AbortController().signal)!;
    gone.abort();
    assert.equal(await leaving, null);
    assert.equal(q.length, 1);
    assert.equal(q.handOver(7), true);
    assert.equal(await staying, 7);
  });

  it('a signal aborted already: null at once, without a place in the queue', async () => {
    const q = new WaitQueue<number>(10);
    assert.equal(await q.enter(any, AbortSignal.abort()), null);
    assert.equal(q.length, 0);
  });

  it('a waiter served lets go of its signal (no listener left on it), and keeps what it got', async () => {
    const q = new WaitQueue<number>(10);
    const ctl = new AbortController();
    const waiting = q.enter(any, ctl.signal)!;
    assert.equal(getEventListeners(ctl.signal, 'abort').length, 1);
    q.handOver(3);
    assert.equal(getEventListeners(ctl.signal, 'abort').length, 0);
    ctl.abort();
    assert.equal(await waiting, 3);
  });
});
