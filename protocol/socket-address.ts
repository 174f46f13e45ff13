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
