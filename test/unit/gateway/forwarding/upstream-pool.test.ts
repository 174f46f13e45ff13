// How the gateway picks an upstream (gateway/forwarding/upstream-pool.ts): the fewest outstanding
// requests, ties round-robin; at most --upstream-concurrency each; past that a FIFO queue of
// --listen entries, then 'queue-full' (503); a freed slot goes straight to the first waiter that
// may use it; stalled upstreams are skipped while another answers; removed ones take nothing new.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isPorticoError } from '../../../../common/errors.js';
import { UpstreamPool, parseUpstream, upstreamSpec, type Admission, type Upstream } from '../../../../gateway/forwarding/upstream-pool.js';

const NONE: ReadonlySet<Upstream> = new Set();

function upstreams(n: number): Upstream[] {
  return Array.from({ length: n }, (_, i) => parseUpstream(`portico://unix:/run/w${i}.sock`));
}

/** The upstream an admission got; fails on any other answer. */
function granted(a: Admission | { kind: 'busy' }): Upstream {
  assert.equal(a.kind, 'upstream');
  return (a as { upstream: Upstream }).upstream;
}

describe('parseUpstream and upstreamSpec', () => {
  it('reads each form --upstream takes, and names it back as --upstream would', () => {
    const cases: Array<[string, Upstream['link'], Upstream['address'], string, string]> = [
      ['portico://unix:/run/a.sock', 'native', { kind: 'unix', path: '/run/a.sock' }, '/run/a.sock', 'portico://unix:/run/a.sock'],
      ['portico://127.0.0.1:9000', 'native', { kind: 'tcp', host: '127.0.0.1', port: 9000 }, '127.0.0.1:9000', 'portico://127.0.0.1:9000'],
      ['uwsgi://unix:/run/b.sock', 'uwsgi', { kind: 'unix', path: '/run/b.sock' }, '/run/b.sock', 'uwsgi://unix:/run/b.sock'],
      ['uwsgi://[::1]:3031', 'uwsgi', { kind: 'tcp', host: '::1', port: 3031 }, '[::1]:3031', 'uwsgi://[::1]:3031'],
      ['unix:/run/c.sock', 'uwsgi', { kind: 'unix', path: '/run/c.sock' }, '/run/c.sock', 'uwsgi://unix:/run/c.sock'],
      ['/run/d.sock', 'uwsgi', { kind: 'unix', path: '/run/d.sock' }, '/run/d.sock', 'uwsgi://unix:/run/d.sock'],
    ];
    for (const [spec, link, address, label, back] of cases) {
      const up = parseUpstream(spec);
      assert.deepEqual({ link: up.link, address: up.address, label: up.label, outstanding: up.outstanding }, { link, address, label, outstanding: 0 }, spec);
      assert.equal(upstreamSpec(up), back, spec);
      assert.deepEqual(parseUpstream(upstreamSpec(up)).address, address, `${spec}: the spec reads back the same`);
    }
  });

  it('a scheme with no socket after it is PORTICO_ERR_INVALID_OPTION', () => {
    for (const spec of ['portico://', 'uwsgi://', '']) {
      assert.throws(
        () => parseUpstream(spec),
        (err: unknown) => isPorticoError(err) && err.code === 'PORTICO_ERR_INVALID_OPTION',
        JSON.stringify(spec),
      );
    }
  });
});

describe('UpstreamPool admission', () => {
  it('refuses a concurrency below 1', () => {
    assert.throws(
      () => new UpstreamPool(upstreams(1), 0),
      (err: unknown) => isPorticoError(err) && err.code === 'PORTICO_ERR_INVALID_OPTION',
    );
  });

  it('least outstanding first; ties go round-robin, so an idle pool spreads its first requests', () => {
    const [a, b, c] = upstreams(3) as [Upstream, Upstream, Upstream];
    const pool = new UpstreamPool([a, b, c]);
    assert.deepEqual([granted(pool.admit(NONE)), granted(pool.admit(NONE)), granted(pool.admit(NONE))], [a, b, c]);
    pool.release(b);
    assert.equal(granted(pool.admit(NONE)), b, 'the one with a free slot, wherever the rotation is');
    assert.deepEqual([a.outstanding, b.outstanding, c.outstanding], [1, 1, 1]);
  });

  it('skips excluded upstreams, and says none-left when every one is excluded', () => {
    const [a, b] = upstreams(2) as [Upstream, Upstream];
    const pool = new UpstreamPool([a, b]);
    assert.equal(granted(pool.admit(new Set([a]))), b);
    assert.equal(granted(pool.admit(new Set([a]))), b);
    assert.deepEqual(pool.admit(new Set([a, b])), { kind: 'none-left' });
    assert.equal(a.outstanding, 0);
  });

  it('at --upstream-concurrency everywhere: busy while the queue has room, queue-full once it has none', async () => {
    const [a] = upstreams(1) as [Upstream];
    const pool = new UpstreamPool([a], 2, 1);
    granted(pool.admit(NONE));
    granted(pool.admit(NONE));
    assert.deepEqual(pool.admit(NONE), { kind: 'busy' });
    assert.equal(a.outstanding, 2, 'a busy answer takes no slot');
    const first = pool.wait(NONE, new AbortController().signal);
    assert.deepEqual(pool.admit(NONE), { kind: 'queue-full' });
    assert.deepEqual(await pool.wait(NONE, new AbortController().signal), { kind: 'queue-full' }, 'no second waiter past --listen 1');
    pool.release(a);
    assert.deepEqual(await first, { kind: 'upstream', upstream: a });
    assert.equal(a.outstanding, 2, 'the freed slot went to the waiter, never free in between');
  });

  it('a freed slot goes to the first waiter in order that may use that upstream', async () => {
    const [a, b] = upstreams(2) as [Upstream, Upstream];
    const pool = new UpstreamPool([a, b], 1);
    granted(pool.admit(NONE));
    granted(pool.admit(NONE));
    const notA = pool.wait(new Set([a]), new AbortController().signal);
    const any = pool.wait(NONE, new AbortController().signal);
    pool.release(a);
    assert.deepEqual(await any, { kind: 'upstream', upstream: a }, 'the first waiter had found a unreachable: the second gets it');
    assert.equal(pool.queue.length, 1, 'the first still waits');
    pool.release(b);
    assert.deepEqual(await notA, { kind: 'upstream', upstream: b });
  });

  it('a waiter whose client goes away leaves the queue: gone, and its place is free', async () => {
    const [a] = upstreams(1) as [Upstream];
    const pool = new UpstreamPool([a], 1, 1);
    granted(pool.admit(NONE));
    const client = new AbortController();
    const waiting = pool.wait(NONE, client.signal);
    client.abort();
    assert.deepEqual(await waiting, { kind: 'gone' });
    assert.equal(pool.queue.length, 0);
    const next = pool.wait(NONE, new AbortController().signal);
    pool.release(a);
    assert.deepEqual(await next, { kind: 'upstream', upstream: a });
    assert.deepEqual(await pool.wait(NONE, AbortSignal.abort()), { kind: 'gone' }, 'a client gone before it waits never enters');
  });

  it('with no upstream at all, requests wait for one (as in a listen backlog), and add() serves them', async () => {
    const pool = new UpstreamPool([], 1, 2);
    assert.deepEqual(pool.admit(NONE), { kind: 'busy' });
    const first = pool.wait(NONE, new AbortController().signal);
    const second = pool.wait(NONE, new AbortController().signal);
    assert.deepEqual(pool.admit(NONE), { kind: 'queue-full' });
    const [a] = upstreams(1) as [Upstream];
    pool.add(a);
    assert.deepEqual(await first, { kind: 'upstream', upstream: a });
    assert.equal(pool.queue.length, 1, 'only as many as the new upstream has slots');
    pool.release(a);
    assert.deepEqual(await second, { kind: 'upstream', upstream: a });
  });
});

describe('UpstreamPool removal and stalls', () => {
  it('a removed upstream gets no new requests, and its freed slots go to nobody', async () => {
    const [a, b] = upstreams(2) as [Upstream, Upstream];
    const pool = new UpstreamPool([a, b], 1);
    granted(pool.admit(NONE));
    granted(pool.admit(NONE));
    const waiting = pool.wait(NONE, new AbortController().signal);
    pool.remove(a, 'PORTICO_ERR_HARAKIRI', 1234);
    assert.deepEqual([a.removed, a.failCode, a.stuckSince], [true, 'PORTICO_ERR_HARAKIRI', 1234]);
    pool.release(a);
    assert.equal(a.outstanding, 0);
    assert.equal(pool.queue.length, 1, 'the waiter still waits');
    pool.release(b);
    assert.deepEqual(await waiting, { kind: 'upstream', upstream: b });
    assert.deepEqual(pool.upstreams, [b]);
  });

  it('a stalled upstream is skipped while another answers, and gets requests again when it answers', async () => {
    const [a, b] = upstreams(2) as [Upstream, Upstream];
    const pool = new UpstreamPool([a, b], 1);
    pool.setStalled(a, true);
    assert.equal(granted(pool.admit(NONE)), b);
    assert.deepEqual(pool.admit(NONE), { kind: 'busy' }, 'a has a free slot, but is stalled');
    const waiting = pool.wait(NONE, new AbortController().signal);
    pool.setStalled(a, false);
    assert.deepEqual(await waiting, { kind: 'upstream', upstream: a }, 'its free slot goes to the waiter once it answers');
  });

  it("a stalled upstream's freed slot goes to nobody while another answers", () => {
    const [a, b] = upstreams(2) as [Upstream, Upstream];
    const pool = new UpstreamPool([a, b], 1);
    granted(pool.admit(NONE));
    granted(pool.admit(NONE));
    void pool.wait(NONE, new AbortController().signal);
    pool.setStalled(a, true);
    pool.release(a);
    assert.equal(a.outstanding, 0);
    assert.equal(pool.queue.length, 1, 'the waiter still waits');
  });

  it('every upstream stalled counts as none stalled: requests go where they would have', () => {
    const [a, b] = upstreams(2) as [Upstream, Upstream];
    const pool = new UpstreamPool([a, b]);
    pool.setStalled(a, true);
    pool.setStalled(b, true);
    assert.deepEqual([granted(pool.admit(NONE)), granted(pool.admit(NONE))], [a, b]);
  });

  it('removing the one that answered leaves the stalled ones, which take the waiting requests', async () => {
    const [a, b] = upstreams(2) as [Upstream, Upstream];
    const pool = new UpstreamPool([a, b], 1);
    pool.setStalled(a, true);
    granted(pool.admit(NONE));
    const waiting = pool.wait(NONE, new AbortController().signal);
    pool.remove(b);
    assert.deepEqual(await waiting, { kind: 'upstream', upstream: a });
  });
});
