import { createHash } from 'node:crypto';
import type { Upstream } from './upstream-pool.js';

/** The cookie that pins a client's socket.io session to its worker. */
const STICKY_COOKIE = 'portico_worker';

/**
 * Sticky sessions for socket.io (engine.io): a session lives in one worker, and its long-polling
 * requests and its WebSocket upgrade must all reach that worker. The gateway pins them with a
 * cookie it sets, as socket.io's own docs recommend for any load balancer (HAProxy, nginx,
 * Passenger do the same): the first engine.io request (its query has `EIO=`) goes to the least
 * busy worker and its answer carries `Set-Cookie: portico_worker=ID`; a request that carries a
 * valid one goes to that worker. Chosen over learning session ids from the answers (no body is
 * parsed, and it works for any transport); browsers send the cookie by themselves, Node clients
 * with socket.io-client's `withCredentials: true`. A cookie naming a worker that is gone is
 * ignored and replaced (that session is lost with its worker either way). Other requests are
 * balanced as before.
 */
export class StickySessions {
  private readonly ids = new WeakMap<Upstream, string>();

  /** The cookie's value for `up`: a short hash of its address, the same in every gateway process. */
  idOf(up: Upstream): string {
    let id = this.ids.get(up);
    if (id === undefined) {
      id = createHash('sha256').update(up.label).digest('base64url').slice(0, 16);
      this.ids.set(up, id);
    }
    return id;
  }

  /**
   * null: not engine.io traffic. Otherwise the upstream the request's cookie pins it to (undefined:
   * none, or one no longer in `upstreams`).
   */
  route(url: string | undefined, rawHeaders: readonly string[], upstreams: readonly Upstream[]): { pinned: Upstream | undefined } | null {
    if (!isEngineIo(url)) return null;
    const wanted = cookieValue(rawHeaders, STICKY_COOKIE);
    if (wanted === undefined) return { pinned: undefined };
    for (const up of upstreams) if (!up.removed && this.idOf(up) === wanted) return { pinned: up };
    return { pinned: undefined };
  }

  setCookie(up: Upstream): string {
    return `${STICKY_COOKIE}=${this.idOf(up)}; Path=/; HttpOnly; SameSite=Lax`;
  }
}

/** engine.io's requests, whatever path it is mounted on: `EIO=` (its protocol version) in the query. */
export function isEngineIo(url: string | undefined): boolean {
  if (url === undefined) return false;
  const q = url.indexOf('?');
  return q >= 0 && (url.startsWith('EIO=', q + 1) || url.includes('&EIO=', q));
}

/** A cookie's value from the Cookie header(s) (RFC 6265 §5.4: `name=value` pairs joined by `; `). */
function cookieValue(raw: readonly string[], name: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length !== 6 || raw[i]!.toLowerCase() !== 'cookie') continue;
    for (const pair of raw[i + 1]!.split(';')) {
      const eq = pair.indexOf('=');
      if (eq > 0 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
    }
  }
  return undefined;
}
