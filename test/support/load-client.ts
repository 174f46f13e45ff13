/**
 * A steady load from a second process, for the master's fault tests: `concurrency` loops send
 * `count` requests in all, then it prints one "summary {json}" line. Every `progressEvery`
 * responses it prints "progress N", so a test can act in the middle of the load without sleeping.
 *
 * SIGTERM stops it early: no new requests, the ones in flight finish, then the summary.
 *
 *   node load-client.js URL COUNT CONCURRENCY PROGRESS_EVERY
 */
import { Agent, request } from 'node:http';

export interface LoadSummary {
  sent: number;
  ok: number;
  failed: number;
  statuses: Record<string, number>;
  errors: Record<string, number>;
  /** Distinct response bodies' second word (the pid, for master-app.mjs's `/`) with counts. */
  pids: Record<string, number>;
}

const [url, countArg, concurrencyArg, everyArg] = process.argv.slice(2);
const count = Number(countArg);
const concurrency = Number(concurrencyArg);
const every = Number(everyArg);
const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
const summary: LoadSummary = { sent: 0, ok: 0, failed: 0, statuses: {}, errors: {}, pids: {} };
let done = 0;
let limit = count;
process.on('SIGTERM', () => {
  limit = 0;
});

function once(): Promise<void> {
  return new Promise((resolve) => {
    const req = request(url!, { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        summary.statuses[status] = (summary.statuses[status] ?? 0) + 1;
        if (status === 200) {
          summary.ok++;
          const pid = Buffer.concat(chunks).toString().split(' ')[1] ?? '';
          summary.pids[pid] = (summary.pids[pid] ?? 0) + 1;
        } else {
          summary.failed++;
        }
        resolve();
      });
      res.on('error', (err: NodeJS.ErrnoException) => fail(err, resolve));
    });
    req.on('error', (err: NodeJS.ErrnoException) => fail(err, resolve));
    req.end();
  });
}

function fail(err: NodeJS.ErrnoException, resolve: () => void): void {
  const code = err.code ?? err.message;
  summary.errors[code] = (summary.errors[code] ?? 0) + 1;
  summary.failed++;
  resolve();
}

async function loop(): Promise<void> {
  while (summary.sent < limit) {
    summary.sent++;
    await once();
    done++;
    if (done % every === 0) process.stdout.write(`progress ${done}\n`);
  }
}

// Only as a program with its arguments (the test runner may load this file on its own).
if (url) {
  await Promise.all(Array.from({ length: concurrency }, loop));
  agent.destroy();
  process.stdout.write(`summary ${JSON.stringify(summary)}\n`);
}
