import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, readlinkSync, renameSync, unlinkSync } from 'node:fs';
import * as net from 'node:net';
import { basename, dirname, join } from 'node:path';
import { constants } from 'node:os';
import { getSystemErrorName } from 'node:util';
import { PorticoError } from '../common/errors.js';
import { listenError, type SocketAddress } from '../protocol/socket-address.js';
import { removeStaleSocket, UNIX_PATH_MAX, vacuumSocket } from '../worker/socket-listener.js';

/** A bound socket the master holds and its workers inherit. */
export interface SharedSocket {
  readonly address: SocketAddress;
  readonly fd: number;
  /** Closes the master's descriptor and, with vacuum, removes the socket file. */
  close(vacuum: boolean): void;
}

interface ServerHandle {
  fd: number;
  close(): void;
  getsockname?(out: object): number;
}

type CreateServerHandle = (address: string | null, port: number, addressType: number, fd?: number, flags?: number) => ServerHandle | number;
const createServerHandle = (net as unknown as { _createServerHandle: CreateServerHandle })._createServerHandle;

/**
 * Binds the socket in the master without accepting on it, the way Node's own cluster primary does
 * for its shared handles (`net._createServerHandle`): the master never calls listen, so no
 * connection ever lands in the master. Each worker inherits the descriptor and listens on it; the
 * listen state stays with the socket, so while a worker is being replaced its connections wait in
 * the kernel's backlog instead of being refused, and the file keeps its inode the whole time.
 * The umask gives the file its final mode at bind(), so there is no window with looser permissions.
 * With a backlog, the socket listens before its file is where clients look (see listenEarly).
 */
export async function bindSharedSocket(address: SocketAddress, chmod: number | undefined, backlog?: number): Promise<SharedSocket> {
  if (address.kind === 'unix') await removeStaleSocket(address.path);
  const oldMask = address.kind === 'unix' && chmod !== undefined ? process.umask(0o777 & ~chmod) : undefined;
  // Bound under a name of its own, the file moves to its path once the socket listens.
  const bindPath = address.kind === 'unix' && backlog !== undefined ? temporaryName(address.path) : null;
  let handle: ServerHandle | number;
  try {
    handle = address.kind === 'unix' ? createServerHandle(bindPath ?? address.path, -1, -1) : createServerHandle(address.host, address.port, net.isIPv6(address.host) ? 6 : 4);
  } finally {
    if (oldMask !== undefined) process.umask(oldMask);
  }
  if (typeof handle === 'number') throw listenError(errnoError(handle), address);
  if (address.kind === 'tcp' && address.port !== 0 && sockName(handle).port !== address.port) {
    // libuv keeps a TCP bind's EADDRINUSE until listen(); the workers' listen() on this fd would
    // then bind a random port on every interface instead. An unbound handle says so here.
    handle.close();
    throw listenError(errnoError(-constants.errno.EADDRINUSE), address);
  }
  if (address.kind === 'unix' && chmod !== undefined) chmodSync(bindPath ?? address.path, chmod);
  if (backlog !== undefined) {
    try {
      listenEarly(handle.fd, backlog);
      if (address.kind === 'unix' && bindPath !== null) renameSync(bindPath, address.path);
    } catch (err) {
      handle.close();
      if (bindPath !== null) unlinkQuietly(bindPath);
      throw err instanceof PorticoError ? err : listenError(err as NodeJS.ErrnoException, address);
    }
  }
  const bound = handle;
  return {
    address,
    fd: bound.fd,
    close(vacuum: boolean): void {
      // The handle removes a unix socket's file as it closes; --no-vacuum keeps it.
      if (vacuum) bound.close();
      if (vacuum) vacuumSocket(address);
    },
  };
}

/**
 * uWSGI's master listens before it forks, so a connection that comes while the workers load the
 * app waits in the backlog; a socket that is bound and not listening refuses it (nginx: "connect()
 * ... (111: Connection refused)", a 502 for the first second or two). The master must not accept,
 * and Node cannot listen(2) without accepting, so a short-lived child does it on the inherited
 * descriptor and exits before its event loop ever polls: the listen state belongs to the socket,
 * which the master keeps. The workers listen on it again (with the same backlog) and accept.
 * The child's start takes some 50 ms between bind() and listen(). A unix socket is bound under a
 * temporary name meanwhile and renamed into place once it listens, so a supervisor or nginx that
 * waits for the file is never refused; the price is that ss, lsof and /proc/net/unix, which show
 * the name given at bind(), show that temporary name. A TCP port cannot be renamed: a connection in
 * those 50 ms is refused.
 */
function listenEarly(fd: number, backlog: number): void {
  const code = `const s = require('net').createServer();
s.on('error', (e) => { process.stderr.write(e.message); process.exit(1); });
s.listen({ fd: 3 }, ${Math.floor(backlog)}, () => process.exit(0));`;
  const r = spawnSync(process.execPath, ['-e', code], { stdio: ['ignore', 'ignore', 'pipe', fd], encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new PorticoError('PORTICO_ERR_SOCKET_PERMISSION', `listen() on the bound socket failed: ${(r.stderr || r.error?.message || `exit ${String(r.status)}`).trim()}`);
}

/**
 * `.NAME.PID~` beside the socket (rename() stays within its directory's file system), or null when
 * that name would not fit in sun_path: then the socket is bound at its path and the gap stays.
 */
function temporaryName(path: string): string | null {
  const name = join(dirname(path), `.${basename(path)}.${process.pid}~`);
  return Buffer.byteLength(name) <= UNIX_PATH_MAX ? name : null;
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Gone already: nothing to clean.
  }
}

/** systemd passes its sockets from this descriptor on (SD_LISTEN_FDS_START). */
const LISTEN_FDS_START = 3;

/**
 * systemd's sd_listen_fds(): how many listening sockets this process was started with by socket
 * activation. LISTEN_PID must name this process, as systemd requires: a variable inherited by
 * some other program further down the tree does not mean its fd 3 is a socket.
 */
export function listenFds(env: NodeJS.ProcessEnv = process.env, pid: number = process.pid): number {
  if (env.LISTEN_PID === undefined || env.LISTEN_FDS === undefined || Number(env.LISTEN_PID) !== pid) return 0;
  const n = Number(env.LISTEN_FDS);
  if (!Number.isInteger(n) || n < 0) throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `LISTEN_FDS must be a number of sockets, got ${env.LISTEN_FDS}`);
  return n;
}

/**
 * Under socket activation, the inherited listening socket's fd (3) for a server of this process
 * (`portico serve`'s HTTP listener), else null. The LISTEN_* variables are cleared, as
 * sd_listen_fds(1) does, so the workers this process forks do not take them for theirs.
 */
export function takeActivatedFd(): number | null {
  if (listenFds() === 0) return null;
  unsetListenEnv();
  return LISTEN_FDS_START;
}

/** sd_listen_fds(unset_environment): the processes this one forks do not take the fd for theirs. */
function unsetListenEnv(): void {
  for (const name of ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES']) delete process.env[name];
}

/**
 * The listening socket a socket-activated start received as fd 3 (a systemd .socket unit,
 * systemd-socket-activate), in place of bindSharedSocket: the workers inherit it the same way.
 * Its kind (and a TCP address) comes from the descriptor itself, so a --socket that disagrees
 * with the .socket unit cannot turn off the workers' --allow-from check. A unix path is the
 * `expected` one (--socket) when given, else the one the kernel recorded at bind(). close() never
 * removes the file: the .socket unit owns it and keeps listening while portico restarts.
 */
export function inheritedSocket(expected?: SocketAddress): SharedSocket {
  const handle = createServerHandle(null, 0, -1, LISTEN_FDS_START);
  if (typeof handle === 'number') {
    throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `LISTEN_FDS is set but fd ${LISTEN_FDS_START} is not a stream socket (${getSystemErrorName(handle)})`);
  }
  unsetListenEnv();
  const { address: host, port } = sockName(handle);
  const address: SocketAddress = host !== undefined && port !== undefined ? { kind: 'tcp', host, port } : { kind: 'unix', path: expected?.kind === 'unix' ? expected.path : unixSocketPath(handle.fd) };
  // Nothing to close or unlink: the .socket unit owns the file and listens across restarts.
  return { address, fd: handle.fd, close(): void {} };
}

/** A unix socket's path from its inode (Node's pipe handles have no getsockname). */
function unixSocketPath(fd: number): string {
  const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
  for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (inode !== undefined && f[6] === inode && f[7]) return f[7];
  }
  return `/proc/self/fd/${fd}`;
}

/** A TCP handle's address and port ({} for a pipe, or a TCP bind that did not take). */
function sockName(handle: ServerHandle): { address?: string; port?: number } {
  const out: { address?: string; port?: number } = {};
  return handle.getsockname?.(out) === 0 ? out : {};
}

function errnoError(errno: number): NodeJS.ErrnoException {
  const code = getSystemErrorName(errno);
  return Object.assign(new Error(code), { code, errno });
}
