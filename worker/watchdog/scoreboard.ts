/**
 * The worker's scoreboard: what it is doing right now, in a SharedArrayBuffer that the main thread
 * writes and the watchdog thread (watchdog.ts) reads. uWSGI keeps the same table in shared memory
 * so that its master can see a stuck worker; here the reader is a thread of the worker process, so
 * it answers (and enforces --harakiri) even while the app blocks the event loop.
 *
 * Writes are plain stores, no locks: the reader may see a request's start time a moment before its
 * URI, which costs at most one odd stats line and nothing on the request path.
 */
import { recordRequest, REQUEST_METRICS_LENGTH } from '../../common/request-metrics.js';

/**
 * Heartbeats per blocked threshold (master-client.ts): a loop merely busy with requests never
 * misses the threshold by a timer's jitter.
 */
export const BEATS_PER_THRESHOLD = 4;

/** Requests tracked at once; more in flight than this are served but not watched. */
const SLOTS = 64;
/** "METHOD URI" bytes kept per slot (longer ones are cut). */
const TEXT_BYTES = 200;

const enum Counter {
  Requests = 0,
  Exceptions = 1,
  /** Sum of request durations in ms, for avg_rt. */
  TotalMs = 2,
  InFlight = 3,
  StartedAt = 4,
  /** Date.now() at the main thread's last heartbeat (beat()): how the watchdog tells a blocked loop. */
  Heartbeat = 5,
  /** Response bytes written (head and body): uWSGI's tx. */
  Tx = 6,
  /** Connections an app took over for an upgrade (WebSockets), open now. */
  Upgraded = 7,
  /** Runtime health from here on, in HEALTH_KEYS' order. */
  Health = 8,
}
/** The app thread's runtime health (health.ts writes it once a second). */
const HEALTH_KEYS = ['loopDelayP50', 'loopDelayP99', 'loopDelayMax', 'loopUtilization', 'gcCount', 'gcTotalMs', 'gcMaxMs', 'heapUsed', 'heapLimit', 'handles'] as const;
const COUNTERS = Counter.Health + HEALTH_KEYS.length;

const COUNTERS_BYTES = COUNTERS * 8;
const STARTS_BYTES = SLOTS * 8;
/** The Float64 arrays first, so every view is aligned. */
const METRICS_BYTES = REQUEST_METRICS_LENGTH * 8;
const LENGTHS_AT = COUNTERS_BYTES + STARTS_BYTES + METRICS_BYTES;
const LENGTHS_BYTES = SLOTS * 2;
const SAB_BYTES = LENGTHS_AT + LENGTHS_BYTES + SLOTS * TEXT_BYTES;

interface Views {
  counters: Float64Array;
  /** Status classes and latency histogram for --metrics (common/request-metrics.ts). */
  metrics: Float64Array;
  /** Date.now() at each tracked request's start; 0 for a free slot. */
  starts: Float64Array;
  lengths: Uint16Array;
  text: Uint8Array;
}

function views(sab: SharedArrayBuffer): Views {
  return {
    counters: new Float64Array(sab, 0, COUNTERS),
    starts: new Float64Array(sab, COUNTERS_BYTES, SLOTS),
    metrics: new Float64Array(sab, COUNTERS_BYTES + STARTS_BYTES, REQUEST_METRICS_LENGTH),
    lengths: new Uint16Array(sab, LENGTHS_AT, SLOTS),
    text: new Uint8Array(sab, LENGTHS_AT + LENGTHS_BYTES, SLOTS * TEXT_BYTES),
  };
}

const encoder = new TextEncoder();

/** The main thread's side: one begin() and one end() per request. */
export class Scoreboard {
  readonly sab = new SharedArrayBuffer(SAB_BYTES);
  private readonly v = views(this.sab);
  /** Each slot's text as a view of its own, made once: a request's begin() allocates none. */
  private readonly slotText = Array.from({ length: SLOTS }, (_, slot) => this.v.text.subarray(slot * TEXT_BYTES, (slot + 1) * TEXT_BYTES));
  private readonly free: number[] = Array.from({ length: SLOTS }, (_, i) => SLOTS - 1 - i);
  /** Called once, when the request count reaches `limit` (--max-requests). */
  private readonly limit: number;
  private readonly onLimit: () => void;

  /** --log-slow in ms (0: off): a request that took longer is told to `onSlow` as it ends. */
  private readonly slowMs: number;
  private readonly onSlow: (method: string, uri: string, durationMs: number) => void;

  constructor(limit = 0, onLimit: () => void = () => {}, slowMs = 0, onSlow: (method: string, uri: string, durationMs: number) => void = () => {}) {
    this.limit = limit;
    this.onLimit = onLimit;
    this.slowMs = slowMs;
    this.onSlow = onSlow;
    this.v.counters[Counter.StartedAt] = this.v.counters[Counter.Heartbeat] = Date.now();
  }

  /**
   * Called from a timer on the app's thread: a heartbeat that stops advancing means the event loop
   * is blocked. A timer, not a store per request or per turn: nothing on the request path.
   */
  beat(): void {
    this.v.counters[Counter.Heartbeat] = Date.now();
  }

  /** Marks a request as running; returns its slot (-1 when every slot is taken). */
  begin(method: string, uri: string): number {
    const c = this.v.counters;
    c[Counter.InFlight]!++;
    const slot = this.free.pop();
    if (slot === undefined) return -1;
    // One string, one encode, cut at TEXT_BYTES (never inside a character).
    this.v.lengths[slot] = encoder.encodeInto(`${method} ${uri}`, this.slotText[slot]!).written;
    this.v.starts[slot] = Date.now();
    return slot;
  }

  /** `status`: what the client got (499 if it went away before the head), for --metrics. */
  end(slot: number, durationMs: number, status: number, txBytes = 0): void {
    const c = this.v.counters;
    c[Counter.InFlight]!--;
    c[Counter.TotalMs]! += durationMs;
    c[Counter.Tx]! += txBytes;
    recordRequest(this.v.metrics, status, durationMs);
    const requests = ++c[Counter.Requests]!;
    if (slot >= 0) {
      if (this.slowMs > 0 && durationMs >= this.slowMs) {
        const { method, uri } = slotRequest(this.v, slot);
        this.onSlow(method, uri, durationMs);
      }
      this.v.starts[slot] = 0;
      this.free.push(slot);
    }
    if (requests === this.limit) this.onLimit();
  }

  exception(): void {
    this.v.counters[Counter.Exceptions]!++;
  }

  /** The app thread's runtime health, once a second (health.ts). */
  health(h: Omit<RuntimeHealth, 'blockedMs'>): void {
    for (let i = 0; i < HEALTH_KEYS.length; i++) this.v.counters[Counter.Health + i] = h[HEALTH_KEYS[i]!];
  }

  /** An upgraded connection opened (1) or closed (-1). */
  upgraded(delta: 1 | -1): void {
    this.v.counters[Counter.Upgraded]! += delta;
  }
}

interface RunningRequest {
  method: string;
  uri: string;
  runningMs: number;
}

/** A request in flight with where the scoreboard keeps it (the watchdog's --log-slow). */
export interface TrackedRequest extends RunningRequest {
  slot: number;
  /** Date.now() at its start. */
  startedAt: number;
}

/** The app thread's runtime as it last wrote it (health.ts). */
export interface RuntimeHealth {
  /** Event-loop delay over the last second, ms. */
  loopDelayP50: number;
  loopDelayP99: number;
  loopDelayMax: number;
  /** Event-loop utilisation over the last second, 0 to 1. */
  loopUtilization: number;
  /** Garbage collections since the start, their pauses summed (ms), the longest in the last second (ms). */
  gcCount: number;
  gcTotalMs: number;
  gcMaxMs: number;
  heapUsed: number;
  heapLimit: number;
  /** Handles and requests keeping the event loop alive (process.getActiveResourcesInfo()). */
  handles: number;
  /** How long the event loop has not run its heartbeat timer, ms (0 when it has, lately). */
  blockedMs: number;
}

export interface ScoreboardSnapshot {
  requests: number;
  exceptions: number;
  inFlight: number;
  /** Mean request time in microseconds, as uWSGI's avg_rt. */
  avgRtUs: number;
  /** Microseconds spent in requests, as uWSGI's running_time. */
  runningTimeUs: number;
  /** Response bytes written, as uWSGI's tx. */
  txBytes: number;
  /** Upgraded connections (WebSockets) open now: not requests in flight, and never harakiri's. */
  upgraded: number;
  /** The longest-running request, if any. */
  current: RunningRequest | null;
  health: RuntimeHealth;
}

const decoder = new TextDecoder();

/** The watchdog's side of --metrics: a copy of the request counters, and what is in flight. */
export function readRequestMetrics(sab: SharedArrayBuffer): { counts: number[]; inFlight: number; upgraded: number } {
  const v = views(sab);
  return { counts: Array.from(v.metrics), inFlight: v.counters[Counter.InFlight]!, upgraded: v.counters[Counter.Upgraded]! };
}

/** The watchdog's side of the heartbeat: Date.now() when the app's thread last ran its timer. */
export function readHeartbeat(sab: SharedArrayBuffer): number {
  return new Float64Array(sab, 0, COUNTERS)[Counter.Heartbeat]!;
}

function slotRequest(v: Views, slot: number): { method: string; uri: string } {
  const at = slot * TEXT_BYTES;
  const line = decoder.decode(v.text.slice(at, at + v.lengths[slot]!));
  const space = line.indexOf(' ');
  return { method: space < 0 ? line : line.slice(0, space), uri: space < 0 ? '' : line.slice(space + 1) };
}

/** Every tracked request in flight, oldest first. */
export function readRunning(sab: SharedArrayBuffer, now = Date.now()): TrackedRequest[] {
  const v = views(sab);
  const running: TrackedRequest[] = [];
  for (let slot = 0; slot < SLOTS; slot++) {
    const startedAt = v.starts[slot]!;
    if (startedAt !== 0) running.push({ ...slotRequest(v, slot), runningMs: Math.max(0, now - startedAt), slot, startedAt });
  }
  return running.sort((a, b) => a.startedAt - b.startedAt);
}

/**
 * The app thread's health; `blockedAfterMs`: a heartbeat older than this is a blocked loop (0: no
 * heartbeat runs, never blocked).
 */
export function readHealth(sab: SharedArrayBuffer, blockedAfterMs: number, now = Date.now()): RuntimeHealth {
  const c = views(sab).counters;
  const age = now - c[Counter.Heartbeat]!;
  const health = { blockedMs: blockedAfterMs > 0 && age > blockedAfterMs ? age : 0 } as RuntimeHealth;
  for (let i = 0; i < HEALTH_KEYS.length; i++) health[HEALTH_KEYS[i]!] = c[Counter.Health + i]!;
  return health;
}

/** The watchdog's side: a consistent-enough copy of the board. */
export function readScoreboard(sab: SharedArrayBuffer, now = Date.now(), blockedAfterMs = 0): ScoreboardSnapshot {
  const v = views(sab);
  const c = v.counters;
  const oldest = readRunning(sab, now)[0];
  const requests = c[Counter.Requests]!;
  return {
    requests,
    exceptions: c[Counter.Exceptions]!,
    inFlight: c[Counter.InFlight]!,
    avgRtUs: requests > 0 ? Math.round((c[Counter.TotalMs]! / requests) * 1000) : 0,
    runningTimeUs: Math.round(c[Counter.TotalMs]! * 1000),
    txBytes: c[Counter.Tx]!,
    upgraded: c[Counter.Upgraded]!,
    current: oldest ? { method: oldest.method, uri: oldest.uri, runningMs: oldest.runningMs } : null,
    health: readHealth(sab, blockedAfterMs, now),
  };
}
