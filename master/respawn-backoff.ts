/** The longest wait between two starts of a worker that keeps dying. */
const MAX_DELAY_MS = 30_000;

/**
 * When to start a dead worker again. A worker that lived at least --min-worker-lifetime is
 * replaced at once; each one in a row that died younger doubles the wait (0, 1 s, 2 s, 4 s... up
 * to 30 s), so a crash loop does not burn the machine and the master stays up to keep trying.
 */
export class RespawnBackoff {
  private readonly minLifetimeMs: number;
  /** Consecutive young deaths per worker id. */
  private readonly youngDeaths = new Map<number, number>();

  constructor(minLifetimeMs: number) {
    this.minLifetimeMs = minLifetimeMs;
  }

  /** Records a death and returns how long to wait before the next start, and the streak. */
  died(id: number, livedMs: number): { delayMs: number; streak: number } {
    if (livedMs >= this.minLifetimeMs) {
      this.youngDeaths.delete(id);
      return { delayMs: 0, streak: 0 };
    }
    const streak = (this.youngDeaths.get(id) ?? 0) + 1;
    this.youngDeaths.set(id, streak);
    return { delayMs: streak <= 1 ? 0 : Math.min(MAX_DELAY_MS, 1000 * 2 ** (streak - 2)), streak };
  }
}
