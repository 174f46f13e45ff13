import { createServer, type Server } from 'node:net';
import type { Logger } from '../common/logger.js';
import { parseSocketAddress } from '../protocol/socket-address.js';
import { listenOn, vacuumSocket } from '../worker/socket-listener.js';
import type { CronStatus } from './cron-scheduler.js';
import { collectStats, type GatewayStatsJson, type MasterStatsJson } from './master-stats.js';
import type { Master } from './master.js';

/**
 * uWSGI's stats server: every connection gets one JSON document and is closed (so `nc -U PATH`,
 * `socat` and `portico top` all work). Served by the master, which never runs app code, so it
 * answers while every worker is stuck.
 */
export class StatsServer {
  private readonly server: Server;
  private readonly spec: string;

  constructor(
    spec: string,
    master: Master,
    sockets: () => Array<{ name: string; proto: string; backlog: number }>,
    log: Logger,
    cron: () => CronStatus[] | null = () => null,
    hideQuery = false,
    gateways: () => GatewayStatsJson[] | null = () => null,
  ) {
    this.spec = spec;
    this.server = createServer((conn) => {
      conn.on('error', () => {});
      collectStats(master, sockets(), cron(), hideQuery, gateways()).then(
        (doc: MasterStatsJson) => conn.end(JSON.stringify(doc, null, 1) + '\n'),
        (err: unknown) => {
          log.warn(`stats: ${(err as Error).message}`);
          conn.destroy();
        },
      );
    });
  }

  listen(): Promise<void> {
    return listenOn(this.server, this.spec);
  }

  close(): void {
    this.server.close();
    vacuumSocket(parseSocketAddress(this.spec));
  }
}
