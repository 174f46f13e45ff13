// The gateway's bounded wait queue: each upstream takes --upstream-concurrency requests, the next
// --listen wait in FIFO order, and past that the client gets 503 + Retry-After at once.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Started } from '../../../support/child-process.js';
import { fixturesDir } from '../../../support/paths.js';
import { outputLine, startGateway, type HttpFront } from '../../support/portico-gateway.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

const APP = join(fixturesDir, 'behaviour-app.mjs');
const QUEUEING = /every upstream is at 1 in flight: requests are queueing \((GET \/\S+) waits\)/;

for (const link of ['uwsgi', 'portico'] as const) {
  describe(`gateway queue over ${link}://: --upstream-concurrency 1 --listen 1`, { timeout: 60_000 }, () => {
    let tmp: ReturnType<typeof makeTmpDir> | undefined;
    let worker: Started | undefined;
    let gateway: HttpFront | undefined;

    before(
      async () => {
        tmp = makeTmpDir(`gateway-queue-${link}`);
        const socket = join(tmp.path, 'w.sock');
        worker = await startWorker(APP, socket);
        gateway = await startGateway([`${link}://unix:${socket}`], ['--upstream-concurrency', '1', '--listen', '1']);
      },
      { timeout: 30_000 },
    );

    after(async () => {
      await gateway?.stop();
      await worker?.stop();
      tmp?.cleanup();
    });

    test('one in flight, one queued, the third turned away with 503; the queued one runs once the slot frees', async () => {
      const held = fetch(`${gateway!.url}/hold`);
      await outputLine(worker!, /app is holding a request/);
      const queued = fetch(`${gateway!.url}/env?queued`);
      assert.match((await outputLine(gateway!.proc, QUEUEING))[1]!, /GET \/env\?queued/);

      const refused = await fetch(`${gateway!.url}/?third`);
      assert.equal(refused.status, 503);
      assert.equal(refused.headers.get('retry-after'), '1');
      assert.equal(await refused.text(), '503 PORTICO_ERR_QUEUE_FULL\n');
      await outputLine(gateway!.proc, /PORTICO_ERR_QUEUE_FULL: GET \/\?third: /);
      // The queued request has not reached the worker while the slot is taken.
      assert.doesNotMatch(worker!.output(), /GET \/env\?queued/);

      // SIGUSR2 releases the held request without stopping the worker (see the fixture).
      worker!.child.kill('SIGUSR2');
      const first = await held;
      assert.equal(first.status, 200);
      assert.equal(await first.text(), 'released');
      const second = await queued;
      assert.equal(second.status, 200);
      assert.equal(typeof ((await second.json()) as { cwd: unknown }).cwd, 'string');
    });

    test('a queued request whose client hangs up leaves the queue', async () => {
      const held = fetch(`${gateway!.url}/hold`);
      await outputLine(worker!, /app is holding a request/);
      const req = httpRequest(`${gateway!.url}/env?hangs-up`, { agent: false });
      const failed = new Promise<Error>((resolve) => req.on('error', resolve));
      req.end();
      await outputLine(gateway!.proc, /requests are queueing \(GET \/env\?hangs-up waits\)/);
      req.destroy();
      await failed;
      // Its place is free again: a later request queues instead of being turned away. When the
      // gateway has seen the hang-up is known only from the answers, so ask until one is queued.
      let next: Promise<Response> | undefined;
      for (let i = 0; !next; i++) {
        const attempt = fetch(`${gateway!.url}/env?after-hang-up-${i}`);
        const queuedLine = gateway!.proc.waitFor(new RegExp(`queueing \\(GET /env\\?after-hang-up-${i} waits\\)`));
        queuedLine.catch(() => {});
        const answer = await Promise.race([attempt, queuedLine.then(() => null)]);
        if (answer === null) next = attempt;
        else assert.equal(answer.status, 503, 'only a full queue answers before the held request is released');
        assert.ok(i < 1000, 'the hung-up request never left the queue');
      }
      worker!.child.kill('SIGUSR2');
      assert.equal((await held).status, 200);
      assert.equal((await next).status, 200);
      assert.doesNotMatch(worker!.output(), /hangs-up/);
    });

    // Last: its next request may wait a moment for the slot (the uwsgi connection's close), and the
    // cases above read the first 'requests are queueing' line of the log.
    test('a request pipelined behind one node:http refuses (no Host), on a connection that then closes: its slot is free again, and its worker hears the abort', async () => {
      // Once a native link is up, a request leaves for the worker in the turn it is parsed; a
      // uwsgi connection is opened for it first, and may find the client gone already.
      await (await fetch(`${gateway!.url}/env?warm`)).body?.cancel();
      // node:http answers the first with 400 and closes; it had parsed and passed on the second.
      const raw = connect(gateway!.port, '127.0.0.1');
      raw.on('error', () => {});
      raw.resume();
      raw.write('GET /no-host HTTP/1.1\r\n\r\nGET /wait-abort HTTP/1.1\r\nHost: test\r\n\r\n');
      await once(raw, 'close');
      if (link === 'portico') await outputLine(worker!, /app saw the abort/);
      // With --upstream-concurrency 1, a slot kept by the request whose client is gone would queue this one for good.
      const next = await fetch(`${gateway!.url}/env?after-abort`);
      assert.equal(next.status, 200);
      await next.body?.cancel();
    });
  });
}
