import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fixturesDir } from '../../../support/paths.js';
import { outputLine, startServe, type HttpFront } from '../../support/portico-gateway.js';

// Harakiri collateral under `portico serve` (hardening item 7): a worker whose event loop is
// blocked gets no new requests, and the requests it never answered are sent to another worker
// when the master kills it, so a stuck request costs itself only, as behind nginx.
const APP = join(fixturesDir, 'master-app.mjs');

const running: HttpFront[] = [];
after(async () => {
  await Promise.all(running.map((f) => f.stop()));
});

async function serve(extra: string[]): Promise<HttpFront> {
  const front = await startServe(APP, ['--workers', '2', '--disable-logging', ...extra]);
  running.push(front);
  return front;
}

interface Answer {
  status: number;
  body: string;
}

async function get(url: string): Promise<Answer> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
}

function statuses(answers: Answer[]): Record<string, number> {
  const count: Record<string, number> = {};
  for (const a of answers) count[a.status] = (count[a.status] ?? 0) + 1;
  return count;
}

describe('serve: a worker that stops answering', () => {
  it('--harakiri 2: one request stuck in a blocked event loop gets 504, the 40 sent while it was stuck all get 200', async () => {
    const front = await serve(['--harakiri', '2']);
    let spinAnswered = false;
    const spin = get(`${front.url}/spin`).finally(() => (spinAnswered = true));
    await outputLine(front.proc, /app spinning/);
    // At once, before anything can tell the loop is blocked: least-outstanding balancing sends
    // about half of them to the stuck worker (each holds the other one for 300 ms). Today's gateway
    // failed those with 504 at the kill.
    const early = Array.from({ length: 20 }, () => get(`${front.url}/sleep?ms=300`));
    const m = await outputLine(front.proc, /worker \d \(pid: (\d+)\) is not answering/);
    const stuckPid = m[1]!;
    // Once the master knows, new requests go to the other worker only, answered before the kill;
    // by outstanding count alone, those past the stuck worker's 11 would go to it too.
    const late = await Promise.all(Array.from({ length: 20 }, () => get(`${front.url}/sleep?ms=300`)));
    assert.equal(spinAnswered, false, 'the late requests were answered before the stuck worker was killed');
    assert.deepEqual(statuses(late), { 200: 20 });
    assert.ok(
      late.every((a) => !a.body.includes(stuckPid)),
      'none of the late requests went to the stuck worker',
    );
    const stuck = await spin;
    assert.equal(stuck.status, 504);
    assert.match(stuck.body, /PORTICO_ERR_HARAKIRI/);
    const earlyAnswers = await Promise.all(early);
    assert.deepEqual(statuses(earlyAnswers), { 200: 20 }, front.proc.output());
    assert.ok(earlyAnswers.every((a) => !a.body.includes(stuckPid)));
    // The scenario did put requests on the stuck worker: they were sent again, not lost.
    assert.match(front.proc.output(), /GET \/sleep\?ms=300 got no answer from the worker killed for --harakiri; sending it to another worker/);
    // The only failures logged are the stuck request's: the master's kill and the gateway's 504.
    const failures = front.proc
      .output()
      .split('\n')
      .filter((l) => l.includes('PORTICO_ERR_'));
    assert.equal(failures.length, 2, failures.join('\n'));
    assert.ok(
      failures.every((l) => l.includes('GET /spin')),
      failures.join('\n'),
    );
  });

  it('a worker whose event loop is blocked gets no new requests, and gets them again once it answers', async () => {
    const front = await serve([]);
    const blocked = get(`${front.url}/block?ms=3000`);
    const m = await outputLine(front.proc, /worker \d \(pid: (\d+)\) is not answering/);
    const blockedPid = m[1]!;
    const during = await Promise.all(Array.from({ length: 20 }, () => get(`${front.url}/`)));
    assert.deepEqual(statuses(during), { 200: 20 });
    assert.ok(
      during.every((a) => !a.body.includes(blockedPid)),
      'no request went to the blocked worker',
    );
    await outputLine(front.proc, new RegExp(`worker \\d \\(pid: ${blockedPid}\\) answers again`));
    assert.deepEqual(await blocked, { status: 200, body: `unblocked ${blockedPid}` });
    // Back in the balance: consecutive requests alternate between the two idle workers.
    const pids = new Set<string>();
    for (let i = 0; i < 4; i++) pids.add((await get(`${front.url}/`)).body.split(' ')[1]!);
    assert.ok(pids.has(blockedPid), `requests reach the recovered worker again (${[...pids].join(', ')})`);
    assert.doesNotMatch(front.proc.output(), /PORTICO_ERR_/);
  });
});
