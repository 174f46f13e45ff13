/**
 * `npm run fuzz`: the long run of test/integration/worker/fuzz.test.ts's cases against a live `portico worker`
 * (fetch fixture app) on a unix socket: random, truncated, oversized and mutated packets from
 * test/fixtures/vectors/ and HTTP sent by mistake, a valid request after every batch.
 * Environment: FUZZ_CASES (20000), FUZZ_SEED (random; printed, so a failure replays),
 * FUZZ_VALID_EVERY (16: also the batch's concurrency), FUZZ_TIMEOUT_MS (10000: per connection),
 * FUZZ_RSS_LIMIT_MIB (10: allowed growth of the worker's RSS after a warm-up of the same mix).
 * Exits 1 on any failed case, a dead worker or RSS growth past the limit.
 */
import { join } from 'node:path';
import { formatFailure, runFuzz, singleProcessArgs, vmRssBytes, type FuzzRunOptions } from '../support/fuzz-runner.js';
import { fixturesDir } from '../support/paths.js';
import { startWorker } from '../support/portico-worker.js';
import { makeTmpDir } from '../support/tmp-dir.js';
import { requestVectors } from '../support/vectors.js';
import { envInt } from './env-int.js';

const MIB = 1024 * 1024;

async function main(): Promise<number> {
  const cases = envInt('FUZZ_CASES', 20_000, 1);
  const seed = envInt('FUZZ_SEED', Math.floor(Math.random() * 0x7fffffff), 0);
  const validEvery = envInt('FUZZ_VALID_EVERY', 16, 1);
  const timeoutMs = envInt('FUZZ_TIMEOUT_MS', 10_000, 1);
  const rssLimit = envInt('FUZZ_RSS_LIMIT_MIB', 10, 0) * MIB;

  const tmp = makeTmpDir('fuzz');
  const socket = join(tmp.path, 'w.sock');
  const app = join(fixturesDir, 'fetch-app.mjs');
  // The fuzz cases are judged against uWSGI's 4096-byte limit (owesResponse).
  const args = ['--disable-logging', '--buffer-size', '4096', ...singleProcessArgs()];
  const worker = await startWorker(app, socket, args);
  const stop = async (): Promise<void> => {
    await worker.stop();
    tmp.cleanup();
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    console.log(`# portico worker fuzz: portico worker ${app} --socket ${socket} ${args.join(' ')}`);
    console.log(`command: FUZZ_CASES=${cases} FUZZ_SEED=${seed} FUZZ_VALID_EVERY=${validEvery} npm run fuzz`);
    const base: Omit<FuzzRunOptions, 'seed' | 'cases'> = { socket, vectors: requestVectors(), validEvery, timeoutMs };
    const pid = worker.child.pid!;
    // The warm-up's own seed: the measured run's cases are still fresh to the worker.
    // A quarter of the run (at least 2000 cases): V8's heap and the allocator settle by then, so
    // what the RSS does afterwards is the run's own growth, not the warm-up's.
    const warmCases = Math.min(cases, Math.max(2000, Math.floor(cases / 4)));
    const warm = await runFuzz({ ...base, seed: (seed ^ 0x5a5a5a5a) >>> 0, cases: warmCases });
    const rssBefore = vmRssBytes(pid);
    console.log(`warm-up: ${warm.cases} cases in ${(warm.elapsedMs / 1000).toFixed(1)} s, ${warm.failures.length} failures`);

    const run = await runFuzz({ ...base, seed, cases });
    const alive = worker.child.exitCode === null && worker.child.signalCode === null;
    const rssAfter = alive ? vmRssBytes(pid) : NaN;
    const grown = rssAfter - rssBefore;
    const failures = [...warm.failures, ...run.failures];

    console.log(
      `cases:    ${run.cases} in ${(run.elapsedMs / 1000).toFixed(1)} s = ${Math.round(run.cases / (run.elapsedMs / 1000))} cases/s ` +
        `(${run.answered} answered with a response, ${run.cases - run.answered} closed without one), ${run.valid} valid requests interleaved`,
    );
    console.log(
      `kinds:    ${Object.entries(run.byKind)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')}`,
    );
    console.log(`failures: ${failures.length}`);
    for (const f of failures.slice(0, 20)) console.log(`  ${formatFailure(f)}`);
    if (failures.length > 20) console.log(`  ... and ${failures.length - 20} more`);
    console.log(
      `worker:   ${alive ? 'alive' : `DEAD (exit ${worker.child.exitCode ?? worker.child.signalCode})`}; ` +
        `RSS before ${(rssBefore / MIB).toFixed(1)} MiB, after ${(rssAfter / MIB).toFixed(1)} MiB, grew ${(grown / MIB).toFixed(1)} MiB (limit ${rssLimit / MIB})`,
    );
    if (!alive) console.log(worker.output().slice(-3000));
    return failures.length === 0 && alive && grown <= rssLimit ? 0 : 1;
  } finally {
    await stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
