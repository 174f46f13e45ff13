import type { Duplex } from 'node:stream';
import type { RuntimeHealth, ScoreboardSnapshot, TrackedRequest } from '../worker/watchdog/scoreboard.js';
import type { StackSample } from '../worker/watchdog/stack-sampler.js';

/** What a worker's watchdog thread reports without being asked. */
export type WatchdogEvent =
  /** startedAt: Date.now() when the request began (the worker's scoreboard); stack: sampled just before. */
  | { event: 'harakiri'; method: string; uri: string; runningMs: number; startedAt: number; stack?: StackSample }
  /** A request running past --log-slow, with its stack sampled then. */
  | { event: 'slow'; method: string; uri: string; runningMs: number; stack: StackSample }
  | { event: 'rss'; rss: number }
  /** The event loop has not run its heartbeat timer for `ms` (past the blocked threshold). */
  | { event: 'blocked'; ms: number }
  /** The heartbeat advanced again, after `ms` without one. */
  | { event: 'answering'; ms: number };

export interface WorkerSnapshot extends ScoreboardSnapshot {
  rss: number;
}

/** A worker's --metrics counters (layout: common/request-metrics.ts). */
export interface WorkerMetrics {
  counts: number[];
  inFlight: number;
  /** Upgraded connections (WebSockets) open now (absent from a worker of an older version). */
  upgraded?: number;
  health?: RuntimeHealth;
}

/** The on-demand dump of one worker: its app thread's stack and the requests in flight. */
export interface WorkerStack {
  stack: StackSample;
  running: TrackedRequest[];
  /** How long the event loop has been blocked, ms (0: it is not). */
  blockedMs: number;
}

/** What the watchdog answers to each query. */
interface Answers {
  /** Its scoreboard and the process's RSS. */
  stats: WorkerSnapshot;
  /** The request counters for --metrics. */
  metrics: WorkerMetrics;
  /** The app thread's stack now. */
  stack: WorkerStack;
}

/** An answer to a query, matched to it by id. */
type Reply = { id: number } & Partial<Answers>;

/**
 * The master's end of a worker's control pipe, whose other end the watchdog thread holds (see
 * worker/watchdog/watchdog.ts): newline-delimited JSON. Separate from the IPC channel on purpose: that one is
 * served by the app's thread, and a stats query must be answered while the app is stuck.
 */
export class ControlChannel {
  private readonly stream: Duplex;
  private readonly pending = new Map<number, (r: Reply | null) => void>();
  private nextId = 1;
  private buffered = '';

  constructor(stream: Duplex, onEvent: (e: WatchdogEvent) => void) {
    this.stream = stream;
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      this.buffered += chunk;
      for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        const msg = JSON.parse(line) as Partial<Reply> & Partial<WatchdogEvent>;
        if (msg.id !== undefined) {
          this.pending.get(msg.id)?.(msg as Reply);
          this.pending.delete(msg.id);
        } else if (msg.event) {
          onEvent(msg as WatchdogEvent);
        }
      }
    });
    // The worker exited: whatever was asked gets no answer.
    stream.on('error', () => {});
    stream.on('close', () => {
      for (const resolve of this.pending.values()) resolve(null);
      this.pending.clear();
    });
  }

  /** What the watchdog answers to `q`, or null when it does not answer within `timeoutMs`. */
  async ask<Q extends keyof Answers>(q: Q, timeoutMs: number): Promise<Answers[Q] | null> {
    if (this.stream.destroyed) return null;
    const id = this.nextId++;
    const reply = await new Promise<Reply | null>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(null);
      }, timeoutMs);
      this.pending.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.stream.write(JSON.stringify({ q, id }) + '\n');
    });
    return (reply?.[q] as Answers[Q] | undefined) ?? null;
  }
}
