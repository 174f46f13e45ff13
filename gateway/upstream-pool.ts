import { PorticoError } from '../common/errors.js';
import { formatSocketAddress, parseSocketAddress, type SocketAddress } from '../protocol/socket-address.js';

export interface Upstream {
  readonly address: SocketAddress;
  readonly label: string;
  /** Requests sent to it and not yet finished: the load measure for balancing. */
  outstanding: number;
}

/**
 * `uwsgi://unix:PATH`, `uwsgi://HOST:PORT`, `unix:PATH` or a bare path: a uwsgi server, a portico
 * worker or real uWSGI, one request per connection.
 */
export function parseUpstream(spec: string): Upstream {
  const rest = spec.startsWith('uwsgi://') ? spec.slice('uwsgi://'.length) : spec;
  if (rest.length === 0) throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--upstream ${JSON.stringify(spec)} names no socket`);
  const address = parseSocketAddress(rest);
  return { address, label: formatSocketAddress(address), outstanding: 0 };
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
