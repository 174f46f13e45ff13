/**
 * The watchdog thread of a worker under the master. It shares nothing with the app's thread but
 * the scoreboard (a SharedArrayBuffer), so it keeps answering while the app blocks the event loop:
 * it tells the master when a request runs past --harakiri, the process grows past
 * --reload-on-rss, or (under serve) the event loop stops answering and starts again, and answers the master's stats and metrics queries over its own control pipe.
 *
 * Control pipe: one JSON object per line both ways (see master/control-channel.ts).
 */
import { Socket } from 'node:net';
import { workerData } from 'node:worker_threads';
import { readHeartbeat, readRequestMetrics, readScoreboard } from './scoreboard.js';

export interface WatchdogConfig {
  sab: SharedArrayBuffer;
  /** The worker's end of the control pipe the master opened (an inherited fd). */
  controlFd: number;
  /** 0: no harakiri. */
  harakiriMs: number;
  /** A heartbeat older than this: the event loop is blocked, the master hears 'blocked' (0: off). */
  blockedMs: number;
  /** 0: no RSS limit. */
  rssLimitBytes: number;
}

const config = workerData as WatchdogConfig;
const control = new Socket({ fd: config.controlFd, readable: true, writable: true });

function send(message: object): void {
  control.write(JSON.stringify(message) + '\n');
}

let buffered = '';
control.setEncoding('utf8');
control.on('data', (chunk: string) => {
  buffered += chunk;
  for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
    const line = buffered.slice(0, nl);
    buffered = buffered.slice(nl + 1);
    const query = JSON.parse(line) as { q: string; id: number };
    if (query.q === 'stats') send({ id: query.id, stats: { ...readScoreboard(config.sab), rss: process.memoryUsage.rss() } });
    else if (query.q === 'metrics') send({ id: query.id, metrics: readRequestMetrics(config.sab) });
  }
});
// The master went away: the main thread hears it on its IPC channel and stops the process.
control.on('error', () => {});

/** The start time of the request already reported, so one stuck request is reported once. */
let reportedStart = 0;
let rssReported = false;
/** The heartbeat seen when 'blocked' was sent (0: the loop is answering). */
let blockedBeat = 0;

function check(): void {
  const now = Date.now();
  if (config.harakiriMs > 0) {
    const board = readScoreboard(config.sab, now);
    const current = board.current;
    if (current && current.runningMs > config.harakiriMs && now - current.runningMs !== reportedStart) {
      reportedStart = now - current.runningMs;
      // startedAt: the gateway sends again the requests it gave this worker after that moment.
      send({ event: 'harakiri', method: current.method, uri: current.uri, runningMs: current.runningMs, startedAt: reportedStart });
    }
  }
  if (config.blockedMs > 0) {
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

// A fortieth of the harakiri period (at most 100 ms) keeps the kill within a few percent of it;
// reading the scoreboard costs microseconds.
// A tenth of the blocked threshold: the gateway hears of a blocked loop soon after it passes.
const tickMs = Math.min(
  config.harakiriMs > 0 ? Math.min(100, Math.max(20, config.harakiriMs / 40)) : 1000,
  config.blockedMs > 0 ? Math.max(20, config.blockedMs / 10) : 1000,
);
if (config.harakiriMs > 0 || config.rssLimitBytes > 0 || config.blockedMs > 0) setInterval(check, tickMs);
