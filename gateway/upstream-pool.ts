import { PorticoError } from '../common/errors.js';
import { formatSocketAddress, parseSocketAddress, type SocketAddress } from '../protocol/socket-address.js';

/** How the gateway talks to an upstream: uwsgi packets, or portico's keep-alive native link. */
export type UpstreamLink = 'uwsgi' | 'native';

export interface Upstream {
  readonly address: SocketAddress;
  readonly link: UpstreamLink;
  readonly label: string;
  /** Requests sent to it and not yet finished: the load measure for balancing. */
  outstanding: number;
}

/**
 * `uwsgi://unix:PATH`, `uwsgi://HOST:PORT`, `unix:PATH` or a bare path: a uwsgi server, a portico
 * worker or real uWSGI, one request per connection. `portico://unix:PATH` or `portico://HOST:PORT`:
 * a portico worker over the native link (docs/protocol.md), many requests per connection.
 */
export function parseUpstream(spec: string): Upstream {
  const native = spec.startsWith('portico://');
  const rest = native ? spec.slice('portico://'.length) : spec.startsWith('uwsgi://') ? spec.slice('uwsgi://'.length) : spec;
  if (rest.length === 0) throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--upstream ${JSON.stringify(spec)} names no socket`);
  const address = parseSocketAddress(rest);
  return { address, link: native ? 'native' : 'uwsgi', label: formatSocketAddress(address), outstanding: 0 };
}

/**
 * Least outstanding requests, ties broken round-robin so an idle pool spreads its first requests
 * instead of sending them all to the first worker.
 */
export class UpstreamPool {
  readonly upstreams: Upstream[];
  private next = 0;

  constructor(upstreams: Upstream[]) {
    if (upstreams.length === 0) throw new PorticoError('PORTICO_ERR_INVALID_OPTION', 'the gateway needs at least one --upstream');
    this.upstreams = upstreams;
  }

  pick(exclude?: ReadonlySet<Upstream>): Upstream | undefined {
    const list = this.upstreams;
    const n = list.length;
    let best: Upstream | undefined;
    for (let i = 0; i < n; i++) {
      const u = list[(this.next + i) % n]!;
      if (exclude?.has(u)) continue;
      if (!best || u.outstanding < best.outstanding) best = u;
    }
    this.next = (this.next + 1) % n;
    return best;
  }
}
