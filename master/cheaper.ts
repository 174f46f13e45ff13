/**
 * uWSGI's cheaper subsystem, as a pure decision function the master calls once a second: grow
 * the pool while every worker is busy (or requests wait) for --cheaper-overload seconds, shrink
 * it by one worker idle for --cheaper-idle seconds, never below --cheaper nor above --processes,
 * and mind the RSS limits. Kept free of processes and timers so tests can drive it with numbers.
 */

export interface CheaperSettings {
  /** Fewest workers (--cheaper). */
  min: number;
  /** Most workers (--processes). */
  max: number;
  /** Workers added at once (--cheaper-step). */
  step: number;
  overloadMs: number;
  idleMs: number;
  /** 0: no limit. */
  rssSoftBytes: number;
  rssHardBytes: number;
}

export interface WorkerLoad {
  id: number;
  inFlight: number;
  requests: number;
  rss: number;
}

export type CheaperDecision = { kind: 'spawn'; count: number; reason: string } | { kind: 'stop'; id: number; reason: string; why: 'cheaper-idle' | 'cheaper-rss' } | { kind: 'none' };

export class CheaperPolicy {
  private readonly s: CheaperSettings;
  private overloadSince: number | null = null;
  /** Per worker id: when it last had a request in flight or served one. */
  private readonly lastActive = new Map<number, { at: number; requests: number }>();

  constructor(settings: CheaperSettings) {
    this.s = settings;
  }

  /** One tick: the workers' load now, and how many requests wait for a worker. */
  decide(now: number, workers: readonly WorkerLoad[], waiting: number): CheaperDecision {
    const s = this.s;
    const n = workers.length;
    const rss = workers.reduce((sum, w) => sum + w.rss, 0);
    for (const w of workers) {
      const seen = this.lastActive.get(w.id);
      if (!seen || w.inFlight > 0 || w.requests !== seen.requests) this.lastActive.set(w.id, { at: now, requests: w.requests });
    }
    for (const id of this.lastActive.keys()) if (!workers.some((w) => w.id === id)) this.lastActive.delete(id);

    if (s.rssHardBytes > 0 && rss > s.rssHardBytes && n > s.min) {
      const id = Math.max(...workers.map((w) => w.id));
      return { kind: 'stop', id, why: 'cheaper-rss', reason: `workers use ${mb(rss)} MB, over --cheaper-rss-limit-hard ${mb(s.rssHardBytes)}` };
    }
    const busy = workers.filter((w) => w.inFlight > 0).length;
    if ((n > 0 && busy === n) || waiting > 0) {
      this.overloadSince ??= now;
      const forMs = now - this.overloadSince;
      if (forMs >= s.overloadMs && n < s.max) {
        if (s.rssSoftBytes > 0 && rss > s.rssSoftBytes) {
          return { kind: 'none' };
        }
        this.overloadSince = null;
        const count = Math.min(s.step, s.max - n);
        const load = waiting > 0 ? `${busy}/${n} busy and ${waiting} waiting` : `${busy}/${n} busy`;
        return { kind: 'spawn', count, reason: `${load} for ${Math.round(forMs / 1000)} s` };
      }
      return { kind: 'none' };
    }
    this.overloadSince = null;
    if (n <= s.min) return { kind: 'none' };
    // The idle worker with the highest id goes first, so ids stay compact.
    const idle = workers.filter((w) => w.inFlight === 0 && now - (this.lastActive.get(w.id)?.at ?? now) >= s.idleMs).sort((a, b) => b.id - a.id)[0];
    if (!idle) return { kind: 'none' };
    const idleFor = now - this.lastActive.get(idle.id)!.at;
    return { kind: 'stop', id: idle.id, why: 'cheaper-idle', reason: `idle ${Math.round(idleFor / 1000)} s` };
  }
}

function mb(bytes: number): number {
  return Math.round(bytes / 1048576);
}
