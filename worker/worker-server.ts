import type { Server, Socket } from 'node:net';
import { defaults } from '../config/defaults.js';
import { PorticoError } from '../common/errors.js';
import { Logger, type LogFormat } from '../common/logger.js';
import { formatSocketAddress, parseSocketAddress, type SocketAddress } from '../protocol/socket-address.js';
import { loadApp, type AppKind, type LoadedApp } from './app-loader.js';
import { serveConnection, type HandedUpgrade } from './uwsgi/uwsgi-connection.js';
import { serveInProcess, type ClientRequest, type ClientResponse } from './in-process/in-process-link.js';
import type { UwsgiVars } from '../protocol/uwsgi/uwsgi-vars.js';
import { listenSocket, othersCanConnect, peerFilter, vacuumSocket } from './socket-listener.js';
import type { Scoreboard } from './watchdog/scoreboard.js';
import type { WorkerContext } from './worker-context.js';
import type { OtelSettings } from '../common/otel-config.js';
import type { WorkerTracing } from './worker-tracing.js';

export interface WorkerOptions {
  app: string;
  socket: string;
  kind?: AppKind;
  bufferSize?: number;
  listen?: number;
  chmodSocket?: number;
  allowFrom?: string[];
  vacuum?: boolean;
  gracefulTimeout?: number;
  /** Seconds (fractions allowed) a chunked body may take to start: see defaults.chunkedInputTimeout. */
  chunkedInputTimeout?: number;
  disableLogging?: boolean;
  logFormat?: LogFormat;
  logto?: string;
  /** --req-logger: request lines go to this file, not to `logto`. */
  requestLogto?: string;
  lightResponse?: boolean;
  /** --otel (common/otel-config.ts): a span per request. null or absent: nothing of OpenTelemetry is loaded. */
  otel?: OtelSettings | null;
  logger?: Logger;
  /** Under the master: the inherited listening socket (instead of binding `socket`). */
  listenFd?: number;
  /**
   * --accept-busy: on an inherited shared socket, stop accepting while this many uwsgi connections
   * are not answered yet (0 or unset: never).
   */
  acceptBusy?: number;
  scoreboard?: Scoreboard;
  /**
   * --http-socket: an HTTP front in this process (cli/worker-run.ts) accepts the connections and
   * hands each request over by a call (worker/in-process/); the worker listens on no socket of
   * its own, and `socket` names the front's, for the log.
   */
  inProcessFront?: boolean;
}

interface ListenHandle {
  readStart(): number;
  readStop(): number;
}

/** Whether the listener's handle can pause accepting (see WorkerServer.accepting); arms it if so. */
function pausableListener(server: Server): boolean {
  const handle = (server as unknown as { _handle?: Partial<ListenHandle> | null })._handle;
  return typeof handle?.readStart === 'function' && typeof handle.readStop === 'function' && handle.readStart() === 0;
}

/** One worker process: the app loaded once, one listening socket, many connections at a time. */
export class WorkerServer {
  readonly address: SocketAddress;
  readonly log: Logger;
  readonly options: WorkerOptions;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private ctx: WorkerContext | null = null;
  private stopping: Promise<void> | null = null;
  private adopted: ((socket: Socket) => void) | null = null;
  /**
   * uwsgi connections not closed yet: each carries one request, maybe still on its way (accepted
   * from the shared queue a moment before a stop). A graceful stop waits for them; a native link
   * leaves this set at its HELLO, since between requests it holds nothing.
   */
  private readonly unserved = new Set<Socket>();
  private quietWait: (() => void) | null = null;
  /** Ends the wait for in-flight requests early (a second SIGTERM). */
  private endGraceWait: (() => void) | null = null;
  app: LoadedApp | null = null;
  private tracing: WorkerTracing | null = null;
  /** --accept-busy in effect (0: off). */
  private acceptBusy = 0;

  constructor(options: WorkerOptions) {
    this.options = options;
    this.address = parseSocketAddress(options.socket);
    this.log = options.logger ?? new Logger({ format: options.logFormat, file: options.logto, requestFile: options.requestLogto, disableRequests: options.disableLogging });
    const bufferSize = options.bufferSize ?? defaults.bufferSize;
    if (!Number.isInteger(bufferSize) || bufferSize < 1 || bufferSize > defaults.maxBufferSize) {
      throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--buffer-size must be 1..${defaults.maxBufferSize}, got ${bufferSize}`);
    }
    const chunked = options.chunkedInputTimeout ?? defaults.chunkedInputTimeout;
    if (!(chunked > 0) || chunked > 86_400) {
      throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--chunked-input-timeout must be more than 0 and at most 86400 seconds, got ${chunked}`);
    }
  }

  async start(): Promise<void> {
    const o = this.options;
    // Before the app: its own @opentelemetry/api calls find the provider registered. Imported only
    // now, so that without --otel no OpenTelemetry module is loaded.
    const tracing = o.otel ? (await import('./worker-tracing.js')).workerTracing(o.otel, this.log) : null;
    this.tracing = tracing;
    this.app = await loadApp(o.app, { kind: o.kind, lightResponse: o.lightResponse });
    this.ctx = {
      log: this.log,
      bufferSize: o.bufferSize ?? defaults.bufferSize,
      chunkedInputTimeoutMs: (o.chunkedInputTimeout ?? defaults.chunkedInputTimeout) * 1000,
      handler: tracing ? tracing.wrap(this.app.handler) : this.app.handler,
      requests: 0,
      inFlight: 0,
      onIdle: null,
      onSettled: (socket) => {
        if (!this.unserved.delete(socket)) return;
        if (this.stopping) this.checkQuiet();
        else if (this.unserved.size === this.acceptBusy - 1) this.accepting(true);
      },
      streamLinks: new Set(),
      upgraded: new Set(),
      scoreboard: o.scoreboard ?? null,
    };
    const ctx = this.ctx;
    // One listener for every socket ('close' comes once): no once() wrapper or closure per connection.
    const sockets = this.sockets;
    const unserved = this.unserved;
    const forget = (socket: Socket): void => {
      sockets.delete(socket);
      if (unserved.delete(socket)) {
        if (this.stopping) this.checkQuiet();
        else if (unserved.size === this.acceptBusy - 1) this.accepting(true);
      }
    };
    const peers = {
      address: this.address,
      allowFrom: o.allowFrom ?? [...defaults.allowFrom],
      log: this.log,
      onConnection: (socket: Socket) => {
        this.sockets.add(socket);
        this.unserved.add(socket);
        if (this.unserved.size === this.acceptBusy) this.accepting(false);
        socket.on('close', () => forget(socket));
        serveConnection(socket, ctx);
      },
    };
    const where = formatSocketAddress(this.address);
    if (o.inProcessFront) {
      this.log.info(`portico worker ${process.pid}: ${this.app.kind} app ${this.app.file}:${this.app.exportName} on http ${where}`, { kind: this.app.kind, socket: where });
      return;
    }
    this.adopted = peerFilter(peers);
    this.server = await listenSocket({ ...peers, backlog: o.listen ?? defaults.listen, chmod: o.chmodSocket, fd: o.listenFd });
    if (o.acceptBusy && o.listenFd !== undefined) this.acceptBusy = pausableListener(this.server) ? o.acceptBusy : 0;
    this.log.info(`portico worker ${process.pid}: ${this.app.kind} app ${this.app.file}:${this.app.exportName} on ${where}`, {
      kind: this.app.kind,
      socket: where,
    });
    // Under `portico serve` (an IPC channel) the gateway runs as this user: the hint is for nginx.
    if (this.address.kind === 'unix' && !othersCanConnect(o.chmodSocket) && !process.send) {
      this.log.info(
        `note: nginx connects as its own user (www-data on Debian); if it logs "connect() to unix:${where} failed ` +
          '(13: Permission denied)", start portico with --chmod-socket 666 (or 660 and a group nginx is in)',
      );
    }
  }

  /**
   * --accept-busy: libuv has no call to stop accepting on a listening socket but closing it, which
   * would close the shared socket's descriptor for good. An inherited one, though, is opened
   * readable, so its read-start and read-stop arm and disarm the very poll that accepts: the other
   * workers take what comes meanwhile (and a connection accepted in the same wake-up is served).
   */
  private accepting(on: boolean): void {
    const handle = (this.server as unknown as { _handle?: ListenHandle | null } | null)?._handle;
    if (on) handle?.readStart();
    else handle?.readStop();
  }

  get inFlight(): number {
    return this.ctx?.inFlight ?? 0;
  }

  /** Nothing in flight and no uwsgi connection waiting to be served. */
  private get quiet(): boolean {
    return (this.ctx?.inFlight ?? 0) === 0 && this.unserved.size === 0;
  }

  private checkQuiet(): void {
    if (this.quiet) this.quietWait?.();
  }

  /** A connection the master accepted and handed over (--cheap): served like one of our own. */
  adopt(socket: Socket): void {
    if (this.stopping) socket.destroy();
    else this.adopted?.(socket);
  }

  /**
   * An upgrade's client connection the gateway of `portico serve` handed over with its request
   * (UpgradeHandOff): served as nginx's uwsgi connection would be, the app's answer and then the
   * new protocol's bytes written straight to the client. `onClose` once it is over.
   */
  adoptUpgrade(socket: Socket, handed: HandedUpgrade, onClose: () => void): void {
    socket.once('close', onClose);
    const ctx = this.ctx;
    if (this.stopping || ctx === null) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    this.unserved.add(socket);
    socket.once('close', () => {
      this.sockets.delete(socket);
      if (this.unserved.delete(socket) && this.stopping) this.checkQuiet();
    });
    serveConnection(socket, ctx, handed);
  }

  /** What the HTTP front in this process calls (--http-socket): gateway/forwarding/forward-types.ts InProcessApp. */
  inProcessApp(): {
    serve(req: ClientRequest, res: ClientResponse, vars: UwsgiVars, hasBody: boolean): void;
    upgrade(socket: Socket, packet: Buffer, rest: Buffer): void;
  } {
    const ctx = this.ctx;
    if (ctx === null) throw new Error('inProcessApp() before start()');
    return {
      serve: (req, res, vars, hasBody) => serveInProcess(ctx, req, res, vars, hasBody),
      upgrade: (socket, packet, rest) => this.adoptUpgrade(socket, { packet, rest }, noop),
    };
  }

  /**
   * Stops accepting, lets in-flight requests finish (at most --graceful-timeout seconds), then
   * closes what is left and removes the socket file.
   */
  stop(graceful = true): Promise<void> {
    if (!graceful) this.endGraceWait?.();
    this.stopping ??= this.doStop(graceful);
    return this.stopping;
  }

  /**
   * The app's shutdown hook, after its last request: awaited for at most --graceful-timeout; a
   * throw or a timeout is one log line, and the worker stops all the same.
   */
  private async closeApp(): Promise<void> {
    const close = this.app?.close;
    if (!close) return;
    const timeoutMs = (this.options.gracefulTimeout ?? defaults.gracefulTimeout) * 1000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(resolve, timeoutMs, 'timeout')));
    try {
      const outcome = await Promise.race([Promise.resolve().then(close), timedOut]);
      if (outcome === 'timeout') this.log.error('PORTICO_ERR_APP_EXCEPTION', `the app's close hook did not finish within --graceful-timeout ${timeoutMs / 1000} s; stopping anyway`);
    } catch (err) {
      this.log.error('PORTICO_ERR_APP_EXCEPTION', `the app's close hook threw: ${(err as Error)?.stack ?? String(err)}`);
    } finally {
      clearTimeout(timer);
    }
  }

  private async doStop(graceful: boolean): Promise<void> {
    const server = this.server;
    const ctx = this.ctx;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    // Version 2 links hear it first: they finish what they took and send nothing more our way.
    if (ctx) for (const link of ctx.streamLinks) link.goAway();
    if (graceful && ctx && !this.quiet) {
      const timeoutMs = (this.options.gracefulTimeout ?? defaults.gracefulTimeout) * 1000;
      this.log.info(`waiting for ${Math.max(ctx.inFlight, this.unserved.size)} request(s) to finish (at most ${timeoutMs / 1000} s)`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.quietWait = this.endGraceWait = () => {
          clearTimeout(timer);
          resolve();
        };
        ctx.onIdle = () => this.checkQuiet();
      });
    }
    // What is left is idle, or past the graceful timeout. A WebSocket still open is told so
    // (1001 "going away", RFC 6455 §7.4.1) rather than cut; its frames leave before the links close.
    if (ctx) for (const ex of [...ctx.upgraded]) ex.goingAway();
    if (ctx) for (const link of ctx.streamLinks) link.flush();
    for (const s of this.sockets) s.destroy();
    await closed;
    await this.closeApp();
    await this.tracing?.shutdown();
    if (this.options.vacuum !== false) vacuumSocket(this.address);
    this.log.info(`portico worker ${process.pid}: stopped`);
    this.log.flush();
  }
}

function noop(): void {}
