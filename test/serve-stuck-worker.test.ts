import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fixturesDir } from './support/paths.js';
import { outputLine, startServe, type HttpFront } from './support/portico-gateway.js';

// Harakiri collateral under `portico serve` (hardening item 7): a worker whose event loop is
// blocked gets no new requests.
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
  it('a worker whose event loop is blocked gets no new requests, and gets them again once it answers', async () => {
    const front = await serve([]);
    const blocked = get(`${front.url}/block?ms=3000`);
    const m = await outputLine(front.proc, /worker \d \(pid: (\d+)\) is not answering/);
    const blockedPid = m[1]!;
    const during = await Promise.all(Array.from({ length: 20 }, () => get(`${front.url}/`)));
    assert.deepEqual(statuses(during), { 200: 20 });
    assert.ok(during.every((a) => !a.body.includes(blockedPid)), 'no request went to the blocked worker');
    await outputLine(front.proc, new RegExp(`worker \\d \\(pid: ${blockedPid}\\) answers again`));
    assert.deepEqual(await blocked, { status: 200, body: `unblocked ${blockedPid}` });
    // Back in the balance: consecutive requests alternate between the two idle workers.
    const pids = new Set<string>();
    for (let i = 0; i < 4; i++) pids.add((await get(`${front.url}/`)).body.split(' ')[1]!);
    assert.ok(pids.has(blockedPid), `requests reach the recovered worker again (${[...pids].join(', ')})`);
    assert.doesNotMatch(front.proc.output(), /PORTICO_ERR_/);
  });
});
