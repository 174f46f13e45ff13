import { join } from 'node:path';
import type { MasterStatsJson } from '../../master/master-stats.js';
import { fetchStats } from '../../master/stats-client.js';
import { startProcess, outputLine, type Started } from '../../support/child-process.js';
import type { LoadSummary } from './load-client.js';

const CLIENT = join(import.meta.dirname, 'load-client.js');

export interface Load {
  proc: Started;
  /** Resolves once `n` responses are in. */
  progress(n: number): Promise<void>;
  /** Stops early (SIGTERM) if still running and resolves with the summary. */
  finish(stopEarly?: boolean): Promise<LoadSummary>;
}

/** Starts the load client (load-client.ts) in its own process against `url`. */
export function startLoad(url: string, count: number, concurrency: number, every: number): Load {
  const proc = startProcess(process.execPath, [CLIENT, url, String(count), String(concurrency), String(every)]);
  return {
    proc,
    async progress(n) {
      await outputLine(proc, new RegExp(`progress ${n}\\n`), 60_000);
    },
    async finish(stopEarly = false) {
      if (stopEarly) proc.child.kill('SIGTERM');
      const m = await outputLine(proc, /summary (.*)\n/, 60_000);
      return JSON.parse(m[1]!) as LoadSummary;
    },
  };
}

/** One document from a --stats socket. */
export function readStats(path: string): Promise<MasterStatsJson> {
  return fetchStats(path, 5000);
}
