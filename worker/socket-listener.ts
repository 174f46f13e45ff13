import { once } from 'node:events';
import { chmodSync, existsSync, lstatSync, readFileSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { PorticoError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { listenError, parseSocketAddress, type SocketAddress } from '../protocol/socket-address.js';

/** sizeof(sockaddr_un.sun_path) on Linux is 108 with the final NUL; bind() cuts a longer path short. */
export const UNIX_PATH_MAX = 107;

interface ListenOptions {
  address: SocketAddress;
  backlog: number;
  /** Mode for a unix socket file, e.g. 0o666 so nginx (www-data) can connect. */
  chmod?: number;
  /** Peer addresses a TCP socket accepts. */
  allowFrom: readonly string[];
  log: Logger;
  onConnection: (socket: Socket) => void;
  /**
   * A socket the master bound and this worker inherited as a file descriptor (shared by every
   * worker, as in uWSGI's preforking): listen on it instead of binding `address`.
   */
  fd?: number;
}

/**
 * Binds the uwsgi socket. A unix socket file left by a dead server is removed; one that still
 * answers belongs to a live server and is an error, never stolen. The file is created under a
 * umask that already gives it its final mode, so there is no window with looser permissions.
 */
export async function listenSocket(opts: ListenOptions): Promise<Server> {
  const server = createServer({ allowHalfOpen: true, noDelay: true }, peerFilter(opts));
  if (opts.fd !== undefined) {
    // Node reads a backlog for an fd only from the second argument, never from the options.
    server.listen({ fd: opts.fd }, opts.backlog);
    await once(server, 'listening');
  } else {
    await listenAt(server, opts.address, opts.backlog, opts.chmod);
  }
  return server;
}

/** Listens on `address` (a stale unix socket file replaced, a live one refused), with the file's mode `chmod`. */
async function listenAt(server: Server, address: SocketAddress, backlog?: number, chmod?: number): Promise<void> {
  if (address.kind === 'unix') await removeStaleSocket(address.path);
  const oldMask = address.kind === 'unix' && chmod !== undefined ? process.umask(0o777 & ~chmod) : undefined;
  try {
    server.listen(address.kind === 'unix' ? { path: address.path, backlog } : { host: address.host, port: address.port, backlog });
    await once(server, 'listening');
  } catch (err) {
    throw listenError(err as NodeJS.ErrnoException, address);
  } finally {
    if (oldMask !== undefined) process.umask(oldMask);
  }
  if (address.kind === 'unix' && chmod !== undefined) chmodSync(address.path, chmod);
}

/**
 * The connection handler: on TCP, a peer outside --allow-from is closed before a byte is read.
 * Also for connections the master accepted and handed over (--cheap).
 */
export function peerFilter(opts: Pick<ListenOptions, 'address' | 'allowFrom' | 'log' | 'onConnection'>): (socket: Socket) => void {
  const allowed = new Set(opts.allowFrom);
  return (socket) => {
    if (opts.address.kind === 'tcp' && !allowed.has(socket.remoteAddress ?? '')) {
      opts.log.error('PORTICO_ERR_FORBIDDEN_PEER', `refused ${socket.remoteAddress}: not in --allow-from (${[...allowed].join(', ')})`);
      socket.destroy();
      return;
    }
    opts.onConnection(socket);
  };
}

export async function removeStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  if (!lstatSync(path).isSocket()) {
    throw new PorticoError('PORTICO_ERR_SOCKET_IN_USE', `${path} exists and is not a socket; refusing to replace it`);
  }
  const probe = connect({ path });
  const alive = await once(probe, 'connect').then(
    () => true,
    () => false,
  );
  probe.destroy();
  if (alive) throw new PorticoError('PORTICO_ERR_SOCKET_IN_USE', `${path}: another server is accepting on it; stop it or choose another --socket`);
  unlinkSync(path);
}

/**
 * Listens on `spec`, a unix path (a stale socket file replaced, a live one refused) or HOST:PORT:
 * the master's side servers (--stats, --metrics).
 */
export function listenOn(server: Server, spec: string): Promise<void> {
  return listenAt(server, parseSocketAddress(spec));
}

/** Removes the socket file at exit (--vacuum). */
export function vacuumSocket(address: SocketAddress): void {
  if (address.kind !== 'unix') return;
  try {
    if (lstatSync(address.path).isSocket()) unlinkSync(address.path);
  } catch {
    // already gone
  }
}

/** Whether nginx's worker user (www-data, not the owner) can connect to a socket of this mode. */
export function othersCanConnect(mode: number | undefined): boolean {
  return mode !== undefined && (mode & 0o002) !== 0;
}

/**
 * The kernel silently caps a listen backlog at net.core.somaxconn: a --listen above it is a queue
 * that does not exist. The warning to log, or null (also where /proc does not say).
 */
export function backlogWarning(backlog: number): string | null {
  let max: number;
  try {
    max = Number(readFileSync('/proc/sys/net/core/somaxconn', 'latin1').trim());
  } catch {
    return null;
  }
  if (!(max > 0) || backlog <= max) return null;
  return `--listen ${backlog} is above net.core.somaxconn (${max}): the kernel caps the queue at ${max}; raise it with sysctl -w net.core.somaxconn=${backlog}, as for uWSGI`;
}
