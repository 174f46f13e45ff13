import { createServer, type Server } from 'node:net';
import type { Logger } from '../common/logger.js';
import { parseSocketAddress } from '../protocol/socket-address.js';
import { listenOn, vacuumSocket } from '../worker/socket-listener.js';
import type { MasterStatsJson } from './master-stats.js';

/**
 * uWSGI's stats server: every connection gets one JSON document and is closed (so `nc -U PATH`,
 * `socat` and `portico top` all work). Served by the master, which never runs app code, so it
 * answers while every worker is stuck.
 */
export class StatsServer {
  private readonly server: Server;
  private readonly spec: string;

  /** `collect` makes the document (master-stats.ts) for each connection. */
  constructor(spec: string, collect: () => Promise<MasterStatsJson>, log: Logger) {
    this.spec = spec;
    this.server = createServer((conn) => {
      conn.on('error', () => {});
      collect().then(
        (doc) => conn.end(JSON.stringify(doc, null, 1) + '\n'),
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
