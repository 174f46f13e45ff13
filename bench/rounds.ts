import type { WrkOptions } from './wrk-result.js';
import { roundLine, type RoundResult } from './report.js';

/**
 * A warm-up of every target, then `rounds` rounds of every target, the order rotated each round so
 * no target always runs first (or right after the same neighbour). `label` relabels the round line.
 */
export async function alternatingRounds<T>(
  targets: readonly T[],
  id: (t: T) => string,
  load: (t: T, o: WrkOptions, round: number) => Promise<RoundResult>,
  o: { wrk: WrkOptions; rounds: number; warmupSec: number; label?: (line: string) => string },
): Promise<RoundResult[]> {
  if (o.warmupSec > 0) {
    for (const t of targets) {
      const w = await load(t, { ...o.wrk, durationSec: o.warmupSec }, 0);
      console.log(`warm-up ${id(t).padEnd(10)} ${Math.round(w.wrk.requestsPerSec)} req/s`);
    }
  }
  console.log('');
  const results: RoundResult[] = [];
  for (let round = 1; round <= o.rounds; round++) {
    const start = (round - 1) % targets.length;
    for (const t of [...targets.slice(start), ...targets.slice(0, start)]) {
      const r = await load(t, o.wrk, round);
      results.push(r);
      console.log(o.label ? o.label(roundLine(r)) : roundLine(r));
    }
  }
  return results;
}
