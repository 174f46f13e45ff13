import { PorticoError } from '../common/errors.js';
import type { NetConnectOpts } from 'node:net';

export type SocketAddress = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/**
 * `PATH`, `unix:PATH`, `HOST:PORT`, `:PORT`, `PORT` or `[v6]:PORT`, as uWSGI's --socket takes them
 * but for a bare number: a port, as `:PORT` (every interface), where uWSGI would create a unix
 * socket file named after it. A path of digits is `unix:1234` or `./1234`. Anything else with a
 * slash, or without a numeric port, is a unix socket path.
 */
export function parseSocketAddress(spec: string): SocketAddress {
  if (spec.startsWith('unix:')) return { kind: 'unix', path: spec.slice(5) };
  if (/^\d{1,5}$/.test(spec)) return { kind: 'tcp', host: '0.0.0.0', port: Number(spec) };
  const m = /^(?:\[([^\]]+)\]|([^:/]*)):(\d{1,5})$/.exec(spec);
  if (m && !spec.includes('/')) {
    const host = m[1] ?? (m[2] || '0.0.0.0');
    return { kind: 'tcp', host, port: Number(m[3]) };
  }
  return { kind: 'unix', path: spec };
}

/** The address as parseSocketAddress reads it back (a master passes it to its workers so). */
export function formatSocketAddress(addr: SocketAddress): string {
  if (addr.kind === 'unix') return /^\d{1,5}$/.test(addr.path) ? `unix:${addr.path}` : addr.path;
  return addr.host.includes(':') ? `[${addr.host}]:${addr.port}` : `${addr.host}:${addr.port}`;
}

export function connectOptions(addr: SocketAddress): NetConnectOpts {
  return addr.kind === 'unix' ? { path: addr.path } : { host: addr.host, port: addr.port };
}

/** A bind or listen failure on `address`, as one coded error that names it and the fix. */
export function listenError(err: NodeJS.ErrnoException, address: SocketAddress): PorticoError {
  const where = formatSocketAddress(address);
  if (err.code === 'EACCES') {
    const hint =
      address.kind === 'unix'
        ? 'the directory is not writable by this user: use a directory it owns (e.g. /run/portico via systemd RuntimeDirectory=) or run as its owner'
        : 'ports below 1024 need root or CAP_NET_BIND_SERVICE';
    return new PorticoError('PORTICO_ERR_SOCKET_PERMISSION', `cannot bind ${where}: ${hint}`, { cause: err });
  }
  if (err.code === 'EADDRINUSE') return new PorticoError('PORTICO_ERR_SOCKET_IN_USE', `${where} is in use`, { cause: err });
  return new PorticoError('PORTICO_ERR_INVALID_OPTION', `cannot bind ${where}: ${err.message}`, { cause: err });
}
