import type { Socket } from 'node:net';
import type { Logger } from '../common/logger.js';
import type { Exchange } from './exchange/exchange.js';
import type { Scoreboard } from './watchdog/scoreboard.js';

/**
 * What an app adapter does with one request. Errors it throws or rejects with become 500s.
 * `upgrade`: how it takes a WebSocket handshake whose connection it may have (exchange.takeOver);
 * null when this app cannot take one now. Without it, the kind takes none (a 501).
 */
export interface RequestHandler {
  (ex: Exchange): void | Promise<void>;
  upgrade?: (ex: Exchange) => Promise<void> | null;
}

/** State shared by every connection of one worker process. */
export interface WorkerContext {
  readonly log: Logger;
  readonly bufferSize: number;
  /** How long a chunked body (no CONTENT_LENGTH) may take to start before the request is answered 411. */
  readonly chunkedInputTimeoutMs: number;
  readonly handler: RequestHandler;
  /** Requests this worker has served, for the `req: N/M` field of the log line. */
  requests: number;
  /** Requests in flight, so a graceful stop knows when it may exit. */
  inFlight: number;
  onIdle: (() => void) | null;
  /**
   * A connection holds no request any more: its uwsgi response is over, or it became a native
   * link (idle between requests). A graceful stop waits for every connection to get here.
   */
  onSettled: ((socket: Socket) => void) | null;
  /** Version 2 native links, told to GOAWAY when the worker starts to stop. */
  readonly streamLinks: Set<{ goAway(): void; flush(): void }>;
  /** Connections an app took over for an upgrade, open until they close (a graceful stop waits for them). */
  readonly upgraded: Set<Exchange>;
  /** Under the master: what the watchdog thread and the stats server see. */
  readonly scoreboard: Scoreboard | null;
}
