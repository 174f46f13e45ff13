import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import { defaults } from '../config/defaults.js';
import type { Logger } from '../common/logger.js';
import { addCounts, gauge, requestMetricsJSON, REQUEST_METRICS_LENGTH, type PromMetricJSON } from '../common/request-metrics.js';
import { parseSocketAddress } from '../protocol/socket-address.js';
import { listenOn, vacuumSocket } from '../worker/socket-listener.js';
import type { WorkerMetrics } from './control-channel.js';
import type { Master } from './master.js';
import type { ExitReason, WorkerProcess } from './worker-process.js';

/** Always present (at 0) so a dashboard can graph them before the first restart. */
const RESTART_REASONS: ExitReason[] = ['crash', 'harakiri', 'max-requests', 'rss', 'reload'];

/** A worker that takes requests: what /readyz and portico_workers_ready count. */
function accepting(w: WorkerProcess): boolean {
  return w.isReady && w.alive && !w.retiring;
}

/**
 * --metrics: Prometheus text on /metrics, /healthz and /readyz, served by the master, which never
 * runs app code. Workers are asked over their control pipes at scrape time (their watchdog
 * threads answer from the scoreboard even while the app blocks), the numbers become prom-client's
 * metrics JSON, and AggregatorRegistry.aggregate sums them with the master's own metrics and the
 * gateway's (`source`, under serve).
 */
export class MetricsServer {
  private readonly spec: string;
  private readonly master: Master;
  private readonly source: (() => Promise<PromMetricJSON[][]>) | undefined;
  private readonly server: Server;
  private readonly registry = new Registry();
  /**
   * Each live worker's counters as last scraped. When it exits they move to `retired`, so the
   * totals do not drop at every restart (which Prometheus would read as a counter reset); what it
   * served after its last scrape is lost.
   */
  private readonly lastSeen = new Map<WorkerProcess, WorkerMetrics>();
  private readonly retired: number[] = new Array<number>(REQUEST_METRICS_LENGTH).fill(0);
  private readonly gone = new WeakSet<WorkerProcess>();

  constructor(spec: string, master: Master, source: (() => Promise<PromMetricJSON[][]>) | undefined, log: Logger) {
    this.spec = spec;
    this.master = master;
    this.source = source;
    const registers = [this.registry];
    new Counter({
      name: 'portico_worker_restarts_total',
      help: 'Worker processes stopped or lost, by reason (crash, harakiri, max-requests, rss, reload, scale-down, cheaper-idle, cheaper-rss)',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const reason of RESTART_REASONS) this.inc({ reason }, master.restarts.get(reason) ?? 0);
        for (const [reason, n] of master.restarts) if (!RESTART_REASONS.includes(reason)) this.inc({ reason }, n);
      },
    });
    new Counter({
      name: 'portico_worker_spawns_total',
      help: 'Worker processes started, by reason (initial, respawn, replace, cheap, cheaper, scale-up)',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of master.spawns) this.inc({ reason }, n);
      },
    });
    new Gauge({
      name: 'portico_workers_alive',
      help: 'Worker processes running, those being stopped included',
      registers,
      collect() {
        this.set(master.all().filter((w) => w.alive).length);
      },
    });
    new Gauge({
      name: 'portico_workers_ready',
      help: 'Worker processes accepting requests',
      registers,
      collect() {
        this.set([...master.workers.values()].filter(accepting).length);
      },
    });
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        log.warn(`metrics: ${(err as Error).message}`);
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, 'GET or HEAD\n');
    if (path === '/healthz') return reply(res, 200, 'ok\n');
    if (path === '/readyz') {
      const ready = [...this.master.workers.values()].some(accepting);
      return reply(res, ready ? 200 : 503, ready ? 'ready\n' : 'no worker is accepting\n');
    }
    if (path !== '/metrics') return reply(res, 404, 'not found: try /metrics, /healthz or /readyz\n');
    const registry = AggregatorRegistry.aggregate(await this.collect());
    return reply(res, 200, await registry.metrics(), registry.contentType);
  }

  /** One metrics-JSON list per source: the master, each answering worker, the retired ones, the gateway. */
  async collect(): Promise<object[][]> {
    const procs = this.master.all();
    const answers = await Promise.all(procs.map((w) => (w.alive ? w.control.ask('metrics', defaults.statsTimeoutMs) : null)));
    const lists: object[][] = [await this.registry.getMetricsAsJSON()];
    let unanswered = 0;
    procs.forEach((w, i) => {
      const m = answers[i];
      // Exited while we waited: its last numbers are already in `retired`.
      if (this.gone.has(w)) return;
      if (!m) {
        unanswered++;
        return;
      }
      if (!this.lastSeen.has(w)) this.retireOnExit(w);
      this.lastSeen.set(w, m);
      lists.push(requestMetricsJSON('portico', m.counts, m.inFlight, 'the workers'));
      lists.push([gauge('portico_upgraded_connections', 'Upgraded connections (WebSockets) open in the workers, not counted as requests in flight', m.upgraded ?? 0)]);
      lists.push(workerHealthJSON(w.id, m));
    });
    lists.push(requestMetricsJSON('portico', this.retired, 0, 'the workers'));
    lists.push([gauge('portico_workers_unanswered', `Workers left out of this scrape: no answer within ${defaults.statsTimeoutMs} ms`, unanswered)]);
    if (this.source) lists.push(...(await this.source()));
    return lists;
  }

  /** Once `w` exits, its last counters join `retired` (an answer of its still on the way is left out). */
  private retireOnExit(w: WorkerProcess): void {
    void w.exited.then(() => {
      this.gone.add(w);
      const last = this.lastSeen.get(w);
      if (last) addCounts(this.retired, last.counts);
      this.lastSeen.delete(w);
    });
  }

  listen(): Promise<void> {
    return listenOn(this.server, this.spec);
  }

  close(): void {
    this.server.close();
    this.server.closeAllConnections();
    vacuumSocket(parseSocketAddress(this.spec));
  }
}

/**
 * One worker's runtime health, labelled with its id (docs/diagnostics.md): the event loop and GC
 * over the last second, heap, handles, requests and upgraded connections now. A worker of an older
 * version sends no health: only its in-flight count.
 */
function workerHealthJSON(id: number, m: WorkerMetrics): PromMetricJSON[] {
  const worker = { worker: id };
  const g = (name: string, help: string, value: number, type: 'gauge' | 'counter' = 'gauge'): PromMetricJSON => gauge(`portico_worker_${name}`, help, value, worker, type);
  const list = [g('requests_in_flight', 'Requests in flight in this worker', m.inFlight), g('upgraded_connections', 'Upgraded connections (WebSockets) open in this worker', m.upgraded ?? 0)];
  const h = m.health;
  if (!h) return list;
  return [
    ...list,
    g('event_loop_delay_p50_seconds', 'Event-loop delay over the last second, median', h.loopDelayP50 / 1000),
    g('event_loop_delay_p99_seconds', 'Event-loop delay over the last second, 99th percentile', h.loopDelayP99 / 1000),
    g('event_loop_delay_max_seconds', 'Event-loop delay over the last second, longest', h.loopDelayMax / 1000),
    g('event_loop_utilization', 'Share of the last second the event loop spent running callbacks (0 to 1)', h.loopUtilization),
    g('event_loop_blocked_seconds', 'How long the event loop has not turned, past the blocked threshold (0: it turns)', h.blockedMs / 1000),
    g('gc_runs_total', 'Garbage collections since the worker started', h.gcCount, 'counter'),
    g('gc_pause_seconds_total', 'Time the garbage collector paused the app thread since the worker started', h.gcTotalMs / 1000, 'counter'),
    g('gc_max_pause_seconds', 'Longest garbage-collection pause in the last second', h.gcMaxMs / 1000),
    g('heap_used_bytes', 'V8 heap in use', h.heapUsed),
    g('heap_limit_bytes', 'V8 heap size limit', h.heapLimit),
    g('active_handles', 'Handles and requests keeping the event loop alive (sockets, timers, ...)', h.handles),
  ];
}

function reply(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
