/**
 * The watchdog thread of a worker under the master. It shares nothing with the app's thread but
 * the scoreboard (a SharedArrayBuffer), so it keeps answering while the app blocks the event loop:
 * it tells the master when a request runs past --harakiri, the process grows past
 * --reload-on-rss, or (under serve) the event loop stops answering and starts again, and answers the master's stats and metrics queries over its own control pipe.
 *
 * Control pipe: one JSON object per line both ways (see master/control-channel.ts).
 */
import { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { workerData } from 'node:worker_threads';
import { BEATS_PER_THRESHOLD, readHealth, readHeartbeat, readRequestMetrics, readRunning, readScoreboard } from './scoreboard.js';
import { SAMPLE_DEADLINE_MS, sampleMainThread, type StackSample } from './stack-sampler.js';

export interface WatchdogConfig {
  sab: SharedArrayBuffer;
  /** The worker's end of the control pipe the master opened (an inherited fd). */
  controlFd: number;
  /** 0: no harakiri. */
  harakiriMs: number;
  /** A heartbeat older than this: the event loop is blocked (stats; 0: no heartbeat). */
  blockedMs: number;
  /** Tell the master when the loop blocks and answers again (under serve). */
  blockedEvents: boolean;
  /** --log-slow in ms: a request running longer is reported once, with its stack (0: off). */
  slowMs: number;
  /** 0: no RSS limit. */
  rssLimitBytes: number;
}

const config = workerData as WatchdogConfig;
const control = new Socket({ fd: config.controlFd, readable: true, writable: true });

function send(message: object): void {
  control.write(JSON.stringify(message) + '\n');
}

/** One sample at a time: who asks while one is under way shares it (it is of the same moment). */
let sampling: Promise<StackSample> | null = null;
function sample(): Promise<StackSample> {
  // A turning loop has no one stack: the pause would land in whatever callback runs next (a
  // timer's), which says nothing about the request. Sampled only when the heartbeat is late: a
  // beat's period and 50 ms of timer jitter.
  const age = Date.now() - readHeartbeat(config.sab);
  if (age < config.blockedMs / BEATS_PER_THRESHOLD + 50)
    return Promise.resolve({ error: `the event loop is not blocked (it turned ${age} ms ago): whatever is in flight waits on I/O, a timer or a promise` });
  sampling ??= sampleMainThread(SAMPLE_DEADLINE_MS).finally(() => (sampling = null));
  return sampling;
}

/** The on-demand dump: the stack and every request in flight, while they run. */
async function stackReport(): Promise<object> {
  const stack = await sample();
  return { stack, running: readRunning(config.sab), blockedMs: readHealth(config.sab, config.blockedMs).blockedMs };
}

createInterface({ input: control, crlfDelay: Infinity }).on('line', (line) => {
  const query = JSON.parse(line) as { q: string; id: number };
  if (query.q === 'stats') send({ id: query.id, stats: { ...readScoreboard(config.sab, Date.now(), config.blockedMs), rss: process.memoryUsage.rss() } });
  else if (query.q === 'metrics') send({ id: query.id, metrics: { ...readRequestMetrics(config.sab), health: readHealth(config.sab, config.blockedMs) } });
  else if (query.q === 'stack') void stackReport().then((stack) => send({ id: query.id, stack }));
});
// The master went away: the main thread hears it on its IPC channel and stops the process.
control.on('error', () => {});

/** The start time of the request already reported, so one stuck request is reported once. */
let reportedStart = 0;
/** How long before --harakiri its stack is sampled (a sample takes tens of milliseconds). */
const HARAKIRI_LEAD_MS = Math.min(250, config.harakiriMs / 4);
/** The sample for the request nearing --harakiri, by its start time. */
let harakiriSample: { startedAt: number; stack: Promise<StackSample> } | null = null;
let rssReported = false;
/** The heartbeat seen when 'blocked' was sent (0: the loop is answering). */
let blockedBeat = 0;
/** --log-slow: the start time of the request reported in each slot. */
const slowReported = new Map<number, number>();

function check(): void {
  const now = Date.now();
  if (config.harakiriMs > 0) {
    const current = readScoreboard(config.sab, now).current;
    const startedAt = current ? now - current.runningMs : 0;
    // Sampled a little before the limit, so that taking the stack does not delay the kill.
    if (current && current.runningMs > config.harakiriMs - HARAKIRI_LEAD_MS && harakiriSample?.startedAt !== startedAt) {
      harakiriSample = { startedAt, stack: sample() };
    }
    if (current && harakiriSample && current.runningMs > config.harakiriMs && startedAt !== reportedStart) {
      reportedStart = startedAt;
      // startedAt: the gateway sends again the requests it gave this worker after that moment.
      // The master kills at this message: sent once the stack is in (at most SAMPLE_DEADLINE_MS).
      void harakiriSample.stack.then((stack) => {
        // It may have ended meanwhile (a native call returning): no kill then.
        if (!readRunning(config.sab).some((r) => r.startedAt === startedAt)) return;
        send({ event: 'harakiri', method: current.method, uri: current.uri, runningMs: Date.now() - startedAt, startedAt, stack });
      });
    }
  }
  if (config.slowMs > 0) checkSlow(now);
  if (config.blockedEvents) {
    const beat = readHeartbeat(config.sab);
    if (blockedBeat === 0 && now - beat > config.blockedMs) {
      blockedBeat = beat;
      send({ event: 'blocked', ms: now - beat });
    } else if (blockedBeat !== 0 && beat !== blockedBeat) {
      send({ event: 'answering', ms: beat - blockedBeat });
      blockedBeat = 0;
    }
  }
  if (config.rssLimitBytes > 0 && !rssReported) {
    const rss = process.memoryUsage.rss();
    if (rss > config.rssLimitBytes) {
      rssReported = true;
      send({ event: 'rss', rss });
    }
  }
}

/** A request past --log-slow: one sample while it still runs, reported once. */
function checkSlow(now: number): void {
  const running = readRunning(config.sab, now);
  const live = new Set(running.map((r) => r.slot));
  for (const slot of slowReported.keys()) if (!live.has(slot)) slowReported.delete(slot);
  for (const r of running) {
    if (r.runningMs <= config.slowMs || slowReported.get(r.slot) === r.startedAt) continue;
    slowReported.set(r.slot, r.startedAt);
    void sample().then((stack) => send({ event: 'slow', method: r.method, uri: r.uri, runningMs: Date.now() - r.startedAt, stack }));
  }
}

// A fortieth of the harakiri period (at most 100 ms) keeps the kill within a few percent of it;
// reading the scoreboard costs microseconds.
// A tenth of the blocked threshold: the gateway hears of a blocked loop soon after it passes.
const tickMs = Math.min(
  config.harakiriMs > 0 ? Math.min(100, Math.max(20, config.harakiriMs / 40)) : 1000,
  config.slowMs > 0 ? Math.min(100, Math.max(20, config.slowMs / 40)) : 1000,
  config.blockedEvents ? Math.max(20, config.blockedMs / 10) : 1000,
);
if (config.harakiriMs > 0 || config.rssLimitBytes > 0 || config.blockedEvents || config.slowMs > 0) setInterval(check, tickMs);
