import { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaults } from '../config/defaults.js';
import { Logger } from '../common/logger.js';
import type { OptionValues } from '../config/option-schema.js';
import { formatSocketAddress, parseSocketAddress } from '../protocol/socket-address.js';
import { loadNativeLink } from '../worker/uwsgi/uwsgi-connection.js';
import { announceReady, createScoreboard, HANDOVER, reportModuleGraph, takeUpgrades, type ManagedWorkerConfig } from '../worker/master-client.js';
import { WorkerServer } from '../worker/worker-server.js';
import type { GatewayServer } from '../gateway/gateway-server.js';
import { waitForStopSignals } from './cli-values.js';
import { giveLogFiles, logFilesOption } from './log-options.js';
import { privilegeOptions } from './option-checks.js';
import { workerOptionsFrom } from './worker-command.js';

// The worker process's side of `portico worker` (cli/worker-command.ts), apart so that the master
// never loads the worker server, the app loader and the adapters.

/** `portico worker --no-master`: one plain worker (its own socket, or systemd's). */
export async function runAloneWorker(app: string, socket: string | undefined, values: OptionValues, activated: boolean): Promise<number> {
  // Loaded here: a worker the master forked (runManagedWorker) uses none of it.
  const { dropPrivileges } = await import('./master-values.js');
  const { bindSharedSocket, inheritedSocket } = await import('../master/shared-socket.js');
  const logs = logFilesOption(values);
  const privileges = privilegeOptions(values);
  const http = values['http-socket'] !== undefined;
  const opts = { ...workerOptionsFrom(app, socket ?? '', values), inProcessFront: http };
  const inherited = activated ? inheritedSocket(socket ? parseSocketAddress(socket) : undefined) : null;
  let worker: WorkerServer;
  if (!inherited && process.getuid?.() === 0 && (privileges.user || privileges.gid !== undefined)) {
    // --uid without the master: bound as root (/run, a port below 1024), privileges dropped, and
    // only then the app imported and the socket listened on, as the master does for its workers.
    const bound = await bindSharedSocket(parseSocketAddress(socket!), opts.chmodSocket, opts.listen ?? defaults.listen);
    const log = new Logger({ format: opts.logFormat, file: opts.logto, requestFile: opts.requestLogto });
    try {
      giveLogFiles(logs, privileges);
      dropPrivileges(privileges, bound.address.kind === 'unix' ? [bound.address.path] : [], log);
    } catch (err) {
      bound.close(true);
      throw err;
    }
    worker = new WorkerServer({ ...opts, listenFd: bound.fd, logger: log });
  } else {
    // Its own socket, or systemd's.
    worker = new WorkerServer(inherited ? { ...opts, socket: formatSocketAddress(inherited.address), listenFd: inherited.fd, vacuum: false } : opts);
    giveLogFiles(logs, privileges);
    dropPrivileges(privileges, [], worker.log);
  }
  await worker.start();
  const front = http ? await startHttpFront(worker, values, worker.options.listenFd) : null;
  return serveUntilStopped(worker, front);
}

/**
 * --http-socket: the gateway's HTTP front in the worker's own process, on the shared socket (or
 * its own), with the app behind it by a call (worker/in-process/): no link, no second process.
 * Loaded only then: a uwsgi worker never imports fastify.
 */
async function startHttpFront(worker: WorkerServer, values: OptionValues, listenFd: number | undefined): Promise<GatewayServer> {
  const [{ GatewayServer }, { gatewayOptionsFrom }] = await Promise.all([import('../gateway/gateway-server.js'), import('./gateway-command.js')]);
  const front = new GatewayServer({
    ...gatewayOptionsFrom(values['http-socket'] as string, [], values),
    logger: worker.log,
    listenFd,
    inProcess: worker.inProcessApp(),
    // The worker logs each request its app answers; the front what it answers itself (static files, refusals).
    accessLog: values['disable-logging'] === true ? false : 'own',
    // The worker's spans (--otel) are the request's: the front adds none of its own.
    otel: null,
  });
  await front.start();
  return front;
}

/**
 * SIGUSR1 reopens the log files; SIGTERM stops (see waitForStopSignals). An HTTP front stops first:
 * it stops accepting and closes each keep-alive connection after its response (within
 * --graceful-timeout), then the worker finishes what is left and closes the app. One timeout for
 * both: the front also waits for an open WebSocket, which only the worker's stop ends (1001), so
 * past it the worker stops at once; a second wait outlasted the master's patience (the timeout
 * and a second), which killed the worker before its 1001.
 */
async function serveUntilStopped(worker: WorkerServer, front: GatewayServer | null = null): Promise<number> {
  process.on('SIGUSR1', () => worker.log.reopen());
  const graceMs = (worker.options.gracefulTimeout ?? defaults.gracefulTimeout) * 1000;
  await waitForStopSignals(
    worker.log,
    async (graceful) => {
      const inTime = front === null || (await Promise.race([front.stop().then(() => true), sleep(graceful ? graceMs : 0, false, { ref: false })]));
      await worker.stop(graceful && inTime);
    },
    () => worker.inFlight,
  );
  return 0;
}

/** A worker process the master started: the shared socket (or its own), a scoreboard, a watchdog. */
export async function runManagedWorker(app: string, socket: string, values: OptionValues, managed: ManagedWorkerConfig): Promise<number> {
  const shared = managed.listenFd !== null;
  const http = values['http-socket'] !== undefined;
  const worker = new WorkerServer({
    ...workerOptionsFrom(app, socket, values),
    inProcessFront: http,
    listenFd: managed.listenFd ?? undefined,
    // The shared socket's file belongs to the master, which outlives this process.
    vacuum: shared ? false : (values.vacuum as boolean | undefined),
    scoreboard: await createScoreboard(managed),
  });
  const reportRequired = await reportModuleGraph(managed);
  // Under serve (a socket of its own) the gateway's HELLO is the first thing to come.
  if (!shared) await loadNativeLink();
  await worker.start();
  const front = http ? await startHttpFront(worker, values, managed.listenFd ?? undefined) : null;
  reportRequired();
  // --cheap: connections the master accepted before (or besides) us.
  process.on('message', (m: { type?: string }, handle: unknown) => {
    if (m?.type === HANDOVER && handle instanceof Socket) worker.adopt(handle);
  });
  takeUpgrades(managed, worker);
  announceReady(managed, worker);
  return serveUntilStopped(worker, front);
}
