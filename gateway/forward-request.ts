import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCodes, isPorticoError, type ErrorCode } from '../common/errors.js';
import { sendError, type ForwardContext } from './forward-common.js';
import { exchangeNative } from './native-forwarder.js';
import type { Upstream } from './upstream-pool.js';
import { connectUpstream, exchangeUwsgi, prepareUwsgi, type UwsgiRequest } from './uwsgi-forwarder.js';

/**
 * Forwards one HTTP request to the least busy upstream, over that upstream's link. An upstream
 * that cannot be reached (nothing listening, or a native handshake refused) is skipped for this
 * request and the next one is tried: nothing of the request was sent to it yet.
 */
export async function forwardRequest(req: IncomingMessage, res: ServerResponse, ctx: ForwardContext): Promise<void> {
  const tried = new Set<Upstream>();
  let lastCode: ErrorCode = 'PORTICO_ERR_UPSTREAM_CONNECT';
  let lastDetail = '';
  /** Built when the first uwsgi upstream is picked; a chunked body is read then (see prepareUwsgi). */
  let uwsgi: UwsgiRequest | undefined;
  for (;;) {
    const up = ctx.pool.pick(tried);
    if (!up) {
      const names = [...tried].map((u) => u.label).join(', ');
      return sendError(res, ctx, lastCode, `no worker reachable (tried ${names})${lastDetail}`, req);
    }
    if (up.link === 'native') {
      const pool = ctx.native.get(up)!;
      let link;
      try {
        link = await pool.acquire();
      } catch (err) {
        if (!isPorticoError(err)) throw err;
        tried.add(up);
        lastCode = err.code;
        // sendError puts the code's own message first again: keep only the detail.
        const base = `${ErrorCodes[err.code].message}: `;
        lastDetail = `: ${err.message.startsWith(base) ? err.message.slice(base.length) : err.message}`;
        continue;
      }
      if (res.destroyed) {
        // The client went away while the link was being set up: nothing was sent on it yet.
        pool.release(link);
        return;
      }
      return exchangeNative(req, res, ctx, up, pool, link, uwsgi?.body ?? null);
    }
    if (!uwsgi) {
      const prepared = await prepareUwsgi(req, res, ctx);
      if (!prepared) return;
      uwsgi = prepared;
    }
    const socket = await connectUpstream(up);
    if (!socket) {
      tried.add(up);
      lastCode = 'PORTICO_ERR_UPSTREAM_CONNECT';
      lastDetail = '';
      continue;
    }
    if (res.destroyed) {
      // The client went away while the upstream was connecting (a reset right after the request):
      // its 'close' has fired already, so the exchange would never hear of it and the app would
      // wait on the request until the upstream timeout. Nothing was sent yet: drop it.
      socket.destroy();
      return;
    }
    return exchangeUwsgi(req, res, ctx, up, socket, uwsgi.head, uwsgi.body);
  }
}
