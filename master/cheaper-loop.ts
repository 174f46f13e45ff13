import { defaults } from '../config/defaults.js';
import { CheaperPolicy, type CheaperSettings, type WorkerLoad } from './cheaper.js';
import type { Master } from './master.js';

/** How often the master looks at its workers' load. */
const TICK_MS = 1000;

/**
 * Applies CheaperPolicy to a running master once a second: reads each worker's load from its
 * watchdog (so a stuck worker counts as busy, not idle), and starts or stops workers.
 */
export class CheaperLoop {
  private readonly master: Master;
  private readonly policy: CheaperPolicy;
  private readonly waiting: () => number;
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private softLimitLogged = false;
  private readonly softBytes: number;

  constructor(master: Master, settings: CheaperSettings, waiting: () => number) {
    this.master = master;
    this.policy = new CheaperPolicy(settings);
    this.waiting = waiting;
    this.softBytes = settings.rssSoftBytes;
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async tick(): Promise<void> {
    const procs = [...this.master.workers.values()];
    // A worker still starting will take load soon: decide again once it accepts.
    if (this.busy || procs.some((w) => !w.isReady)) return;
    this.busy = true;
    try {
      const snaps = await Promise.all(procs.map((w) => w.control.ask('stats', defaults.statsTimeoutMs)));
      const loads: WorkerLoad[] = procs.map((w, i) => ({
        id: w.id,
        // No answer in time: the worker is wedged, which is busy, never idle.
        inFlight: snaps[i]?.inFlight ?? 1,
        requests: snaps[i]?.requests ?? 0,
        rss: snaps[i]?.rss ?? 0,
      }));
      const waiting = this.waiting();
      const d = this.policy.decide(Date.now(), loads, waiting);
      if (d.kind === 'spawn') {
        this.softLimitLogged = false;
        for (let i = 0; i < d.count; i++) this.master.addWorker(d.reason, 'cheaper');
      } else if (d.kind === 'stop') {
        this.master.removeWorker(d.id, d.why, d.reason);
      } else if (this.softBytes > 0 && !this.softLimitLogged && loads.reduce((n, l) => n + l.rss, 0) > this.softBytes && loads.every((l) => l.inFlight > 0)) {
        this.softLimitLogged = true;
        this.master.log.warn(`not spawning more workers: their RSS is over --cheaper-rss-limit-soft ${Math.round(this.softBytes / 1048576)} MB`);
      }
    } finally {
      this.busy = false;
    }
  }
}
