import { chmodSync } from 'node:fs';
import * as net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { formatSocketAddress, type SocketAddress } from '../../protocol/socket-address.js';
import { listenError, removeStaleSocket, vacuumSocket } from '../socket-listener.js';

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
}

type CreateServerHandle = (address: string | null, port: number, addressType: number, fd?: number, flags?: number) => ServerHandle | number;

/**
 * Binds the socket in the master without accepting on it, the way Node's own cluster primary does
 * for its shared handles (`net._createServerHandle`): the master never calls listen, so no
 * connection ever lands in the master. Each worker inherits the descriptor and listens on it; the
 * listen state stays with the socket, so while a worker is being replaced its connections wait in
 * the kernel's backlog instead of being refused, and the file keeps its inode the whole time.
 * The umask gives the file its final mode at bind(), so there is no window with looser permissions.
 */
export async function bindSharedSocket(address: SocketAddress, chmod: number | undefined): Promise<SharedSocket> {
  const create = (net as unknown as { _createServerHandle: CreateServerHandle })._createServerHandle;
  if (address.kind === 'unix') await removeStaleSocket(address.path);
  const oldMask = address.kind === 'unix' && chmod !== undefined ? process.umask(0o777 & ~chmod) : undefined;
  let handle: ServerHandle | number;
  try {
    handle = address.kind === 'unix'
      ? create(address.path, -1, -1)
      : create(address.host, address.port, net.isIPv6(address.host) ? 6 : 4);
  } finally {
    if (oldMask !== undefined) process.umask(oldMask);
  }
  if (typeof handle === 'number') throw listenError(errnoError(handle), address);
  if (address.kind === 'unix' && chmod !== undefined) chmodSync(address.path, chmod);
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

function errnoError(errno: number): NodeJS.ErrnoException {
  const code = getSystemErrorName(errno);
  return Object.assign(new Error(code), { code, errno });
}

export function describeShared(s: SharedSocket): string {
  return formatSocketAddress(s.address);
}
