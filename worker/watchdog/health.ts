/**
 * The app thread's runtime health, written to the scoreboard once a second so that the watchdog
 * thread can answer --stats and --metrics with it even while the loop is blocked: event-loop delay
 * (perf_hooks' histogram, reset each second), event-loop utilisation, GC pauses, heap, handles.
 * Nothing here runs per request: one timer a second, the delay histogram's own timer, and a GC
 * observer called in batches after collections.
 */
import { monitorEventLoopDelay, performance, PerformanceObserver, type EventLoopUtilization } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import type { Scoreboard } from './scoreboard.js';

const HEALTH_MS = 1000;
/** The delay histogram's sampling timer: coarse enough to cost nothing, fine enough for p99. */
const DELAY_RESOLUTION_MS = 20;

export function watchHealth(board: Scoreboard): void {
  const delay = monitorEventLoopDelay({ resolution: DELAY_RESOLUTION_MS });
  delay.enable();
  let gcCount = 0;
  let gcTotalMs = 0;
  let gcMaxMs = 0;
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcCount++;
      gcTotalMs += e.duration;
      if (e.duration > gcMaxMs) gcMaxMs = e.duration;
    }
  });
  gc.observe({ entryTypes: ['gc'] });
  let elu: EventLoopUtilization = performance.eventLoopUtilization();
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const heap = getHeapStatistics();
    // The histogram counts in ns and includes the resolution itself (its timer's own period).
    const ms = (ns: number): number => Math.max(0, ns / 1e6 - DELAY_RESOLUTION_MS);
    const sampled = delay.count > 0;
    board.health({
      loopDelayP50: sampled ? ms(delay.percentile(50)) : 0,
      loopDelayP99: sampled ? ms(delay.percentile(99)) : 0,
      loopDelayMax: sampled ? ms(delay.max) : 0,
      loopUtilization: performance.eventLoopUtilization(now, elu).utilization,
      gcCount,
      gcTotalMs,
      gcMaxMs,
      heapUsed: heap.used_heap_size,
      heapLimit: heap.heap_size_limit,
      handles: process.getActiveResourcesInfo().length,
    });
    elu = now;
    gcMaxMs = 0;
    delay.reset();
  }, HEALTH_MS);
  timer.unref();
}
