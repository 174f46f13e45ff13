/** One request waiting for a slot. */
interface Waiter<T> {
  accepts(item: T): boolean;
  resolve(item: T | null): void;
  signal: AbortSignal;
  onAbort: () => void;
}

/**
 * A bounded FIFO of requests waiting for a free upstream slot. A slot given back goes straight to
 * the first waiter that can use it (one that has not already found that upstream unreachable), so
 * the slot is never free for a newcomer to grab ahead of the queue.
 */
export class WaitQueue<T> {
  readonly limit: number;
  private readonly waiters: Array<Waiter<T>> = [];

  constructor(limit: number) {
    this.limit = limit;
  }

  get length(): number {
    return this.waiters.length;
  }

  /**
   * Joins the queue; resolves with the item handed over, or null once `signal` aborts (the waiter
   * has left the queue then). Undefined when the queue is full.
   */
  enter(accepts: (item: T) => boolean, signal: AbortSignal): Promise<T | null> | undefined {
    if (this.waiters.length >= this.limit) return undefined;
    if (signal.aborted) return Promise.resolve(null);
    return new Promise<T | null>((resolve) => {
      const waiter: Waiter<T> = {
        accepts,
        resolve,
        signal,
        onAbort: () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          resolve(null);
        },
      };
      signal.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Gives `item` to the first waiter that accepts it; false when none does. */
  handOver(item: T): boolean {
    const i = this.waiters.findIndex((w) => w.accepts(item));
    if (i < 0) return false;
    const [w] = this.waiters.splice(i, 1);
    w!.signal.removeEventListener('abort', w!.onAbort);
    w!.resolve(item);
    return true;
  }
}
