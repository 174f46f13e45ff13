/**
 * One gateway process of `portico serve --gateway-processes N` (master/gateway-process.ts): the
 * same GatewayServer as in the master's process, accepting from the HTTP socket the master bound
 * (fd 3) and forwarding to the workers the master names over IPC.
 */
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { isPorticoError } from '../common/errors.js';
import { Logger } from '../common/logger.js';
import { gatewayMetricsJSON } from '../common/request-metrics.js';
import { GatewayServer, type GatewayOptions } from '../gateway/gateway-server.js';
import type { UpgradeHandOff } from '../gateway/forwarding/upgrade-forwarder.js';
import { GATEWAY_LISTEN_FD, GATEWAY_PROCESS_ENV, type FromGateway, type ToGateway } from '../master/gateway-process.js';

/** What the master puts in GATEWAY_PROCESS_ENV. */
export interface GatewayChildConfig extends Omit<GatewayOptions, 'logger' | 'upgradeHandOff' | 'onNoUpstream' | 'listenFd'> {
  logFile?: string;
  requestLogFile?: string;
}

/** How often the queue depth is reported (when it changed) for --cheaper. */
const DEPTH_REPORT_MS = 250;

function send(m: FromGateway): void {
  if (process.connected) process.send!(m);
}

/**
 * The connection's handle goes, not the Socket: Node tracks a Socket sent from a server's
 * connections as still open in the receiving process, whose copy (passed on to the worker) never
 * closes there, so this server's close would wait for it until the kill. This process keeps its
 * descriptor until the worker has one (keepOpen), then closes it.
 */
function sendHandle(m: FromGateway, socket: Socket, done: (err: Error | null) => void): void {
  const handle = (socket as Socket & { _handle?: object | null })._handle;
  if (!process.connected || !handle) return done(new Error(process.connected ? 'the connection closed' : 'the master is gone'));
  // Node sends a raw TCP or pipe handle as such ('net.Native'); its types name only Socket and Server.
  process.send!(m, handle as unknown as Socket, { keepOpen: true }, done);
}

/**
 * Upgrades go to the master with the connection's descriptor, and on to the worker from there
 * (master/upgrade-handover.ts); this process keeps its copy until the master says the worker has it.
 */
class HandOffViaMaster implements UpgradeHandOff {
  readonly labels = new Set<string>();
  open = 0;
  private readonly pending = new Map<number, (err: Error | null) => void>();
  private seq = 0;

  reaches(label: string): boolean {
    return this.labels.has(label);
  }

  send(label: string, socket: Socket, packet: Buffer, rest: Buffer, done: (err: Error | null) => void): void {
    const id = ++this.seq;
    this.pending.set(id, done);
    sendHandle({ type: 'gw:upgrade', id, label, packet: packet.toString('base64'), rest: rest.toString('base64') }, socket, (err) => {
      if (err) this.settle(id, err.message);
    });
  }

  settle(id: number, error: string | null): void {
    const done = this.pending.get(id);
    this.pending.delete(id);
    done?.(error === null ? null : new Error(error));
  }
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env[GATEWAY_PROCESS_ENV] ?? '{}') as GatewayChildConfig;
  delete process.env[GATEWAY_PROCESS_ENV];
  const { logFile, requestLogFile, ...options } = config;
  const log = new Logger({ format: options.logFormat, file: logFile, requestFile: requestLogFile });
  const handOff = new HandOffViaMaster();
  let gateway: GatewayServer | null = null;
  /** What the master said before the gateway listened, applied once it does. */
  const early: ToGateway[] = [];
  const apply = (g: GatewayServer, m: ToGateway): void => {
    if (m.type === 'gw:upstreams') {
      for (const u of m.list) {
        apply(g, { type: 'gw:add', spec: u.spec });
        if (u.stalled) g.setUpstreamStalled(u.spec, true);
      }
    } else if (m.type === 'gw:add') {
      handOff.labels.add(m.spec);
      g.addUpstream(m.spec);
    } else if (m.type === 'gw:remove') {
      handOff.labels.delete(m.spec);
      g.removeUpstream(m.spec, m.failCode, m.stuckSince);
    } else if (m.type === 'gw:stalled') g.setUpstreamStalled(m.spec, m.stalled);
  };
  process.on('message', (m: ToGateway) => {
    switch (m?.type) {
      case 'gw:upgrades-open':
        handOff.open = m.open;
        return;
      case 'gw:upgrade-done':
        return handOff.settle(m.id, m.error);
      case 'gw:drain':
        // Replaced: new connections go to the successor; the open ones end after their next
        // response or, idle that long, at the deadline.
        if (gateway) void Promise.race([gateway.drain(), sleep(m.ms)]).then(stop);
        return;
      case 'gw:metrics':
        return send({ type: 'gw:metrics', id: m.id, list: gateway ? gatewayMetricsJSON(gateway) : [] });
      default:
        if (gateway) apply(gateway, m);
        else early.push(m);
    }
  });
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => (stopping ??= (gateway?.stop() ?? Promise.resolve()).then(() => process.exit(0)));
  // The master's SIGTERM: stop accepting, finish what is in flight. SIGINT, or the master gone: now.
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => process.exit(0));
  process.on('disconnect', () => void stop());
  process.on('SIGUSR1', () => log.reopen());
  send({ type: 'gw:hello' });
  const g = new GatewayServer({ ...options, logger: log, listenFd: GATEWAY_LISTEN_FD, upgradeHandOff: handOff, onNoUpstream: () => send({ type: 'gw:demand' }) });
  await g.start();
  // Before any connection is read (the start resolved in this same turn of the event loop).
  gateway = g;
  for (const m of early.splice(0)) apply(g, m);
  let depth = 0;
  setInterval(() => {
    if (g.queueDepth === depth) return;
    depth = g.queueDepth;
    send({ type: 'gw:depth', depth });
  }, DEPTH_REPORT_MS).unref();
  send({ type: 'gw:ready', url: g.url });
}

main().catch((err: unknown) => {
  process.stderr.write(`portico gateway process: ${isPorticoError(err) ? `${err.code}: ${err.message}` : String(err)}\n`);
  process.exit(1);
});
