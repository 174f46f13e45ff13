import { PorticoError } from '../common/errors.js';
import type { NetConnectOpts } from 'node:net';

export type SocketAddress =
  | { kind: 'unix'; path: string }
  | { kind: 'tcp'; host: string; port: number };

/**
 * `PATH`, `unix:PATH`, `HOST:PORT`, `:PORT` or `[v6]:PORT`, as uWSGI's --socket takes them.
 * Anything with a slash, or without a numeric port, is a unix socket path.
 */
export function parseSocketAddress(spec: string): SocketAddress {
  if (spec.startsWith('unix:')) return { kind: 'unix', path: spec.slice(5) };
  const m = /^(?:\[([^\]]+)\]|([^:/]*)):(\d{1,5})$/.exec(spec);
  if (m && !spec.includes('/')) {
    const host = m[1] ?? (m[2] || '0.0.0.0');
    return { kind: 'tcp', host, port: Number(m[3]) };
  }
  return { kind: 'unix', path: spec };
}

export function formatSocketAddress(addr: SocketAddress): string {
  return addr.kind === 'unix' ? addr.path : addr.host.includes(':') ? `[${addr.host}]:${addr.port}` : `${addr.host}:${addr.port}`;
}

export function connectOptions(addr: SocketAddress): NetConnectOpts {
  return addr.kind === 'unix' ? { path: addr.path } : { host: addr.host, port: addr.port };
}

/** A bind or listen failure on `address`, as one coded error that names it and the fix. */
export function listenError(err: NodeJS.ErrnoException, address: SocketAddress): PorticoError {
  const where = formatSocketAddress(address);
  if (err.code === 'EACCES') {
    const hint = address.kind === 'unix'
      ? 'the directory is not writable by this user: use a directory it owns (e.g. /run/portico via systemd RuntimeDirectory=) or run as its owner'
      : 'ports below 1024 need root or CAP_NET_BIND_SERVICE';
    return new PorticoError('PORTICO_ERR_SOCKET_PERMISSION', `cannot bind ${where}: ${hint}`, { cause: err });
  }
  if (err.code === 'EADDRINUSE') return new PorticoError('PORTICO_ERR_SOCKET_IN_USE', `${where} is in use`, { cause: err });
  return new PorticoError('PORTICO_ERR_INVALID_OPTION', `cannot bind ${where}: ${err.message}`, { cause: err });
}
