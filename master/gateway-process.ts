import { Socket, type SocketConstructorOpts } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ErrorCode } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { PromMetricJSON } from '../common/request-metrics.js';
import { parseSocketAddress } from '../protocol/socket-address.js';
import { RespawnBackoff } from './respawn-backoff.js';
import { bindSharedSocket, type SharedSocket } from './shared-socket.js';
import type { GatewayStatsJson } from './master-stats.js';
import { SupervisedProcess } from './supervised-process.js';
import type { UpgradeHandover } from './upgrade-handover.js';

/** The environment variable carrying a gateway process's configuration (JSON) from the master. */
export const GATEWAY_PROCESS_ENV = 'PORTICO_GATEWAY_CHILD';

/** The shared HTTP listening socket, fd 3 in every gateway process. */
export const GATEWAY_LISTEN_FD = 3;

/** The master's messages to a gateway process (cli/gateway-child.ts). */
export type ToGateway =
  /** Every upstream it forwards to, sent once it listens for messages (a respawn starts from the current set). */
  | { type: 'gw:upstreams'; list: Array<{ spec: string; stalled: boolean }> }
  | { type: 'gw:add'; spec: string }
  | { type: 'gw:remove'; spec: string; failCode?: ErrorCode; stuckSince?: number }
  | { type: 'gw:stalled'; spec: string; stalled: boolean }
  /** Its share of the upgraded connections the workers hold, counted towards its --max-connections. */
  | { type: 'gw:upgrades-open'; open: number }
  | { type: 'gw:metrics'; id: number }
  /** It is being replaced: stop accepting, end each connection after its next response, exit within `ms`. */
  | { type: 'gw:drain'; ms: number }
  | { type: 'gw:upgrade-done'; id: number; error: string | null };

/** A gateway process's messages to the master. */
export type FromGateway =
  | { type: 'gw:hello' }
  | { type: 'gw:ready'; url: string }
  /** A request waits and no worker runs (--cheap). */
  | { type: 'gw:demand' }
  /** Requests waiting in its --listen queue (--cheaper reads the sum). */
  | { type: 'gw:depth'; depth: number }
  | { type: 'gw:metrics'; id: number; list: PromMetricJSON[] }
  /** A WebSocket's client connection (the message's handle) for the worker behind `label`. */
  | { type: 'gw:upgrade'; id: number; label: string; packet: string; rest: string };

export interface GatewayFleetOptions {
  /** --gateway-processes. */
  count: number;
  /** The module each gateway process runs (cli/gateway-child.js). */
  entry: string;
  /** --http: the master binds it and has it listen (bind()); it never accepts on it. */
  http: string;
  /** Under socket activation, the listening socket systemd passed (then --http is not bound). */
  httpFd: number | null;
  /** What the gateway process is given in GATEWAY_PROCESS_ENV (its GatewayServer's options). */
  config: object;
  log: Logger;
  /** Their stdout and stderr go into `log`, as the workers' do. */
  outputToLog: boolean;
  upgrades: UpgradeHandover;
  /** A request waits and no worker runs: start them (--cheap). */
  demand: () => void;
  gracefulTimeoutSeconds: number;
  minLifetimeSeconds: number;
  /** Each gateway forwards to its share of the workers only, not to all (measured against the mesh by the bench; off). */
  partition?: boolean;
}

/**
 * How long a replaced gateway process keeps its idle keep-alive connections for their next request
 * (answered with Connection: close) before closing them: a client's next request on a connection
 * closed under it would fail.
 */
const DRAIN_MS = 2000;

/** How long the master waits for a gateway process's metrics at a scrape. */
const METRICS_TIMEOUT_MS = 1000;

/** One gateway process, as the master sees it. */
class GatewayProcess extends SupervisedProcess<FromGateway> {
  readonly id: number;
  /** Set once the master stops it on purpose; an exit without it is a crash. */
  retiring = false;
  depth = 0;

  constructor(id: number, listenFd: number, opts: GatewayFleetOptions, onMessage: (g: GatewayProcess, m: FromGateway, handle: unknown) => void) {
    super({
      entry: opts.entry,
      argv: [],
      fds: [listenFd, 'ipc'],
      env: { ...process.env, [GATEWAY_PROCESS_ENV]: JSON.stringify(opts.config) },
      readyType: 'gw:ready',
      onMessage: (m, handle) => onMessage(this, m, handle),
      onOutput: opts.outputToLog ? (line) => opts.log.output(line) : undefined,
      notReady: { what: `gateway ${id}`, code: 'PORTICO_ERR_GATEWAY_DIED' },
    });
    this.id = id;
  }

  send(m: ToGateway): void {
    if (this.alive && this.child.connected) this.child.send(m);
  }

  /** Stops it (see terminate); the gateway process stops accepting and finishes its requests. */
  stop(graceMs: number): Promise<void> {
    this.retiring = true;
    return this.terminate(graceMs);
  }
}

/**
 * `portico serve --gateway-processes N`: N gateway processes accept from the one HTTP socket the
 * master bound (one accept queue: a process that dies or is replaced leaves no connection behind
 * in a queue of its own), each with a native link to every worker. The master tells them which
 * workers take requests, respawns one that dies, replaces them one at a time in a chain reload,
 * passes their WebSocket connections on to the workers and sums their metrics.
 */
export class GatewayFleet {
  readonly gateways = new Map<number, GatewayProcess>();
  /** Every gateway process alive, the ones a chain reload is replacing included. */
  private readonly all = new Set<GatewayProcess>();
  /** Restarts after a crash, by gateway id (the stats document). */
  private readonly respawns = new Map<number, number>();
  url = '';
  private readonly o: GatewayFleetOptions;
  /** Every upstream the gateways forward to, and whether its worker is blocked. */
  private readonly upstreams = new Map<string, { stalled: boolean; slot: number }>();
  private readonly backoff: RespawnBackoff;
  private readonly respawnTimers = new Set<NodeJS.Timeout>();
  private readonly pendingMetrics = new Map<number, (list: PromMetricJSON[]) => void>();
  private metricsSeq = 0;
  private stopping = false;
  private reloading = false;
  private sharedOpen = -1;
  private socket: SharedSocket | null = null;

  constructor(options: GatewayFleetOptions) {
    this.o = options;
    this.backoff = new RespawnBackoff(options.minLifetimeSeconds * 1000);
    options.upgrades.onChange = () => this.shareUpgrades();
  }

  /** Takes the HTTP socket (before privileges drop), unless systemd passed it. */
  async bind(): Promise<void> {
    // Node's default backlog, as the in-process gateway listens with.
    if (this.o.httpFd === null) this.socket = await bindSharedSocket(parseSocketAddress(this.o.http), undefined, 511);
  }

  /** Starts every gateway process on it; resolves once all listen. */
  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.o.count }, (_, i) => this.spawn(i + 1).ready));
  }

  private spawn(id: number): GatewayProcess {
    const g = new GatewayProcess(id, this.socket?.fd ?? this.o.httpFd!, this.o, (proc, m, handle) => this.onMessage(proc, m, handle));
    this.gateways.set(id, g);
    this.all.add(g);
    void g.exited.then(({ code, signal }) => {
      this.all.delete(g);
      this.onExit(g, code, signal);
    });
    return g;
  }

  private onMessage(g: GatewayProcess, m: FromGateway, handle: unknown): void {
    switch (m?.type) {
      case 'gw:hello':
        g.send({ type: 'gw:upstreams', list: [...this.upstreams].filter(([, u]) => this.links(g.id, u.slot)).map(([spec, u]) => ({ spec, stalled: u.stalled })) });
        g.send({ type: 'gw:upgrades-open', open: Math.max(0, this.sharedOpen) });
        return;
      case 'gw:ready':
        this.url = m.url;
        return;
      case 'gw:demand':
        return this.o.demand();
      case 'gw:depth':
        g.depth = m.depth;
        return;
      case 'gw:metrics':
        this.pendingMetrics.get(m.id)?.(m.list);
        return;
      case 'gw:upgrade':
        return this.passUpgrade(g, m, handle as object | undefined);
    }
  }

  /** The gateway process keeps its copy of the descriptor until the worker has it (then it closes it). */
  private passUpgrade(g: GatewayProcess, m: Extract<FromGateway, { type: 'gw:upgrade' }>, handle: object | undefined): void {
    const done = (error: string | null): void => g.send({ type: 'gw:upgrade-done', id: m.id, error });
    if (handle === undefined) return done('no connection came with it');
    // The worker takes a Socket. A Socket made on a handle starts reading it; this copy must read
    // nothing (the worker reads it), and stops before the event loop could (the private readStop
    // the gateway uses the same way, gateway/forwarding/upgrade-forwarder.ts).
    const socket = new Socket({ handle, readable: true, writable: true } as SocketConstructorOpts);
    (socket as Socket & { _handle?: { readStop?: () => number } | null })._handle?.readStop?.();
    socket.on('error', () => {});
    this.o.upgrades.send(m.label, socket, Buffer.from(m.packet, 'base64'), Buffer.from(m.rest, 'base64'), (err) => {
      if (err) socket.destroy();
      done(err ? err.message : null);
    });
  }

  private shareUpgrades(): void {
    // Each gateway counts its share of the connections the workers took from all of them.
    const open = Math.ceil(this.o.upgrades.open / Math.max(1, this.gateways.size));
    if (open === this.sharedOpen) return;
    this.sharedOpen = open;
    for (const g of this.gateways.values()) g.send({ type: 'gw:upgrades-open', open });
  }

  private onExit(g: GatewayProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.gateways.get(g.id) !== g) return; // replaced on purpose
    this.gateways.delete(g.id);
    // A chain reload's successor that failed to start: the reload keeps the old one.
    if (this.stopping || g.retiring || (!g.isReady && this.reloading)) return;
    const how = signal ? `killed by signal ${signal}` : `exit code ${code}`;
    const { delayMs } = this.backoff.died(g.id, Date.now() - g.spawnedAt);
    this.o.log.error('PORTICO_ERR_GATEWAY_DIED', `gateway ${g.id} (pid: ${g.pid}) died, ${how}: trying respawn${delayMs ? ` in ${delayMs / 1000} s` : ''}; the other gateways keep serving`);
    const timer = setTimeout(() => {
      this.respawnTimers.delete(timer);
      if (this.stopping || this.gateways.has(g.id)) return;
      this.respawns.set(g.id, (this.respawns.get(g.id) ?? 0) + 1);
      const fresh = this.spawn(g.id);
      fresh.ready.then(
        () => this.o.log.info(`Respawned gateway ${g.id} (new pid: ${fresh.pid})`),
        () => {},
      );
    }, delayMs);
    this.respawnTimers.add(timer);
  }

  /**
   * Whether gateway `id` forwards to the worker in `slot`: all of them, or with `partition` (a
   * benchmark's comparison, bench/gateway-processes-bench.ts) one gateway's share.
   */
  private links(id: number, slot: number): boolean {
    return !this.o.partition || (slot - 1) % this.o.count === id - 1;
  }

  /** A worker (its id as `slot`) takes requests: every gateway links to it. */
  add(spec: string, slot: number): void {
    this.upstreams.set(spec, { stalled: false, slot });
    for (const g of this.gateways.values()) if (this.links(g.id, slot)) g.send({ type: 'gw:add', spec });
  }

  remove(spec: string, failCode?: ErrorCode, stuckSince?: number): void {
    this.upstreams.delete(spec);
    this.broadcast({ type: 'gw:remove', spec, failCode, stuckSince });
  }

  setStalled(spec: string, stalled: boolean): void {
    const u = this.upstreams.get(spec);
    if (!u) return;
    u.stalled = stalled;
    this.broadcast({ type: 'gw:stalled', spec, stalled });
  }

  private broadcast(m: ToGateway): void {
    for (const g of this.gateways.values()) g.send(m);
  }

  /** The stats document's `gateways`: the current process of each id, and those being replaced. */
  stats(): GatewayStatsJson[] {
    return [...this.all]
      .sort((a, b) => a.id - b.id || a.spawnedAt - b.spawnedAt)
      .map((g) => ({
        id: g.id,
        pid: g.pid,
        status: g.retiring ? 'stopping' : g.isReady ? 'serving' : 'starting',
        queue: g.depth,
        respawns: this.respawns.get(g.id) ?? 0,
      }));
  }

  /** SIGUSR1: they reopen their log files. */
  reopenLogs(): void {
    for (const g of this.gateways.values()) g.signal('SIGUSR1');
  }

  /** Requests waiting in the gateways' queues, as each last reported. */
  get queueDepth(): number {
    let n = 0;
    for (const g of this.gateways.values()) n += g.depth;
    return n;
  }

  /** Each gateway process's metrics (prom-client's aggregation sums them); one that does not answer in time is left out. */
  async metrics(): Promise<PromMetricJSON[][]> {
    const asks = [...this.gateways.values()]
      .filter((g) => g.isReady)
      .map(
        (g) =>
          new Promise<PromMetricJSON[]>((resolve) => {
            const id = ++this.metricsSeq;
            const timer = setTimeout(() => finish([]), METRICS_TIMEOUT_MS);
            const finish = (list: PromMetricJSON[]): void => {
              clearTimeout(timer);
              this.pendingMetrics.delete(id);
              resolve(list);
            };
            this.pendingMetrics.set(id, finish);
            g.send({ type: 'gw:metrics', id });
          }),
      );
    return Promise.all(asks);
  }

  /**
   * Chain reload: each gateway in turn gets a successor on the same socket, and is stopped (it
   * stops accepting, finishes its requests) only once the successor accepts: the queue always
   * has a process taking from it, so no connection waits on one that is leaving.
   */
  async reload(): Promise<void> {
    this.reloading = true;
    try {
      await this.replaceEach();
    } finally {
      this.reloading = false;
    }
  }

  private async replaceEach(): Promise<void> {
    for (const id of [...this.gateways.keys()].sort((a, b) => a - b)) {
      const old = this.gateways.get(id);
      if (!old || this.stopping) continue;
      old.retiring = true;
      const fresh = this.spawn(id);
      try {
        await fresh.ready;
      } catch (err) {
        old.retiring = false;
        if (!this.stopping) this.gateways.set(id, old);
        this.o.log.error('PORTICO_ERR_RELOAD_FAILED', `gateway ${id}: its replacement failed to start, the old one (pid ${old.pid}) keeps serving: ${(err as Error).message}`);
        return;
      }
      this.o.log.info(`gateway ${id} replaced (new pid: ${fresh.pid}, old pid ${old.pid} finishing its requests)`);
      old.send({ type: 'gw:drain', ms: DRAIN_MS });
      // Then the usual stop, should it still run: what is in flight gets --graceful-timeout.
      await Promise.race([old.exited, sleep(DRAIN_MS)]);
      await old.stop(this.o.gracefulTimeoutSeconds * 1000 + 1000);
    }
  }

  /** Graceful: each finishes its in-flight requests (--graceful-timeout); else SIGKILL after a second. */
  async stop(graceful: boolean): Promise<void> {
    this.stopping = true;
    for (const t of this.respawnTimers) clearTimeout(t);
    this.respawnTimers.clear();
    const graceMs = graceful ? this.o.gracefulTimeoutSeconds * 1000 + 1000 : 1000;
    await Promise.all([...this.gateways.values()].map((g) => g.stop(graceMs)));
  }

  /** After the stop: the master's descriptor of the HTTP socket, and a unix socket's file. */
  close(): void {
    this.socket?.close(true);
  }
}
