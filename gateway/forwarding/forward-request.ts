import { isPorticoError, type ErrorCode } from '../../common/errors.js';
import { errorDetail, forwardFailed, sendError, type ForwardContext } from './forward-common.js';
import { GatewayStream, type StreamOutcome } from './link-forwarder.js';
import { isEngineIo } from './sticky-sessions.js';
import { connectUpstream, type Upstream } from './upstream-pool.js';
import { exchangeUwsgi, prepareUwsgi, type UwsgiRequest } from './uwsgi-forwarder.js';
import type { ForwardedRequest, ForwardedResponse } from './forward-types.js';

/** Outcome of one attempt on one upstream. */
type Attempt = { done: true } | { done: false; code: ErrorCode; detail: string };

/**
 * Forwards one HTTP request to the least busy upstream, over that upstream's link, once one has a
 * free slot (--upstream-concurrency; meanwhile the request waits in the --listen queue, or is
 * turned away with 503 when that is full). An upstream that cannot be reached (nothing listening,
 * or a native handshake refused, or still in the backoff that refusal started) is skipped for this
 * request and the next one is tried: nothing of the request was sent to it yet.
 */
export async function forwardRequest(req: ForwardedRequest, res: ForwardedResponse, ctx: ForwardContext): Promise<void> {
  const tried = new Set<Upstream>();
  // A socket.io session goes to its worker: every other upstream counts as tried.
  const sticky = ctx.sticky?.route(req.url, req.rawHeaders, ctx.pool.upstreams) ?? null;
  if (sticky?.pinned !== undefined) for (const u of ctx.pool.upstreams) if (u !== sticky.pinned) tried.add(u);
  let lastCode: ErrorCode = 'PORTICO_ERR_UPSTREAM_CONNECT';
  let lastDetail = '';
  /** Built when the first uwsgi upstream is picked; a chunked body is read then (see prepareUwsgi). */
  const uwsgi: { request?: UwsgiRequest } = {};
  let gone: AbortController | undefined;
  const onClose = (): void => gone?.abort();
  try {
    for (;;) {
      let admission = ctx.pool.admit(tried);
      if (admission.kind === 'busy') {
        // No upstream at all: under serve --cheap, the first request is what starts the workers.
        if (ctx.pool.upstreams.length === 0) ctx.onNoUpstream?.();
        else if (ctx.pool.queue.length === 0) {
          // Once per busy spell, not per queued request: the sign that --upstream-concurrency or
          // the number of workers is short of the load.
          ctx.log.warn(`every upstream is at ${ctx.pool.concurrency} in flight: requests are queueing (${req.method} ${req.url} waits)`);
        }
        // Only a waiting request pays for hearing of its client's hang-up: it leaves the queue.
        gone ??= new AbortController();
        if (res.destroyed) gone.abort();
        else res.once('close', onClose);
        const waited = ctx.tracing?.queueWait(req);
        admission = await ctx.pool.wait(tried, gone.signal);
        waited?.();
        res.off('close', onClose);
      }
      if (admission.kind === 'gone') return;
      if (admission.kind === 'queue-full') {
        const { concurrency, queue, upstreams } = ctx.pool;
        return sendError(res, ctx, 'PORTICO_ERR_QUEUE_FULL', `${upstreams.length} upstream(s) at ${concurrency} in flight each and ${queue.limit} waiting`, req, { 'retry-after': '1' });
      }
      if (admission.kind === 'none-left') {
        const names = [...tried].map((u) => u.label).join(', ');
        return sendError(res, ctx, lastCode, `no worker reachable (tried ${names})${lastDetail}`, req);
      }
      const up = admission.upstream;
      let attempt: Attempt;
      try {
        attempt = await forwardTo(req, res, ctx, up, uwsgi, sticky !== null && sticky.pinned === undefined ? ctx.sticky!.setCookie(up) : null);
      } finally {
        // After the exchange's promise, not inside it: a native link is back in its pool by now,
        // so the request the slot goes to next can reuse it.
        ctx.pool.release(up);
      }
      if (attempt.done) return;
      tried.add(up);
      lastCode = attempt.code;
      lastDetail = attempt.detail;
    }
  } finally {
    res.off('close', onClose);
  }
}

const NO_UPSTREAM: ReadonlySet<Upstream> = new Set();

/**
 * The common case, without a promise: nobody is queued, and the least busy upstream has a free
 * slot and an open native link. false: nothing was taken; forwardRequest does the rest. A
 * stream the worker did not take (the exchange's 'retry') goes to forwardRequest then.
 */
export function forwardNow(req: ForwardedRequest, res: ForwardedResponse, ctx: ForwardContext): boolean {
  const pool = ctx.pool;
  if (pool.queue.length > 0) return false;
  // socket.io traffic is pinned to its worker (forwardRequest).
  if (ctx.sticky !== undefined && isEngineIo(req.url)) return false;
  const up = pool.pick(NO_UPSTREAM, false);
  if (up === undefined || up.link !== 'native') return false;
  const links = ctx.native.get(up)!;
  const link = links.takeShared();
  if (link === null) return false;
  pool.advance();
  up.outstanding++;
  const done = (outcome: StreamOutcome): void => {
    pool.release(up);
    if (outcome === 'retry') {
      logResend(ctx, up, req, up.removed ? 'sending it to another worker' : 'sending it again');
      forwardRequest(req, res, ctx).catch((err: unknown) => forwardFailed(res, ctx, req, err));
    }
  };
  new GatewayStream(req, res, ctx, up, links, link, done, null).start(null);
  return true;
}

/** One attempt on `up`, holding one of its slots. */
async function forwardTo(req: ForwardedRequest, res: ForwardedResponse, ctx: ForwardContext, up: Upstream, uwsgi: { request?: UwsgiRequest }, setCookie: string | null): Promise<Attempt> {
  // Sticky cookies ride on the native link's answers (portico serve's); a uwsgi upstream's go as they are.
  if (up.link === 'native') return forwardNative(req, res, ctx, up, uwsgi.request?.body ?? null, setCookie);
  if (!uwsgi.request) {
    const prepared = await prepareUwsgi(req, res, ctx);
    if (!prepared) return { done: true };
    uwsgi.request = prepared;
  }
  const socket = await connectUpstream(up).catch(() => null);
  if (!socket) return { done: false, code: 'PORTICO_ERR_UPSTREAM_CONNECT', detail: '' };
  if (res.destroyed) {
    // The client went away while the upstream was connecting (a reset right after the request):
    // its 'close' has fired already, so the exchange would never hear of it and the app would
    // wait on the request until the upstream timeout. Nothing was sent yet: drop it.
    socket.destroy();
    return { done: true };
  }
  await exchangeUwsgi(req, res, ctx, up, socket, uwsgi.request.head, uwsgi.request.body);
  return { done: true };
}

/**
 * A native-link attempt: on a pooled or shared link, and once more on a new connection when the
 * first turns out to have been closed by the worker before it saw the request, or the worker's
 * GOAWAY says it never took it (the exchange's 'retry'). A new connection that cannot be made, or
 * a second 'retry', moves the request on to another upstream: nothing of it was answered yet.
 */
async function forwardNative(req: ForwardedRequest, res: ForwardedResponse, ctx: ForwardContext, up: Upstream, buffered: Buffer | null, setCookie: string | null): Promise<Attempt> {
  const pool = ctx.native.get(up)!;
  for (let attempt = 0; ; attempt++) {
    const fresh = attempt > 0;
    if (attempt === 2) return { done: false, code: 'PORTICO_ERR_UPSTREAM_ABORTED', detail: ': the worker went away twice before it answered' };
    let link;
    try {
      link = await pool.acquire(fresh, ctx.log);
    } catch (err) {
      if (!isPorticoError(err)) throw err;
      return { done: false, code: err.code, detail: `: ${errorDetail(err)}` };
    }
    if (res.destroyed) {
      // The client went away while the link was being set up: nothing was sent on it yet.
      pool.release(link);
      return { done: true };
    }
    const outcome = await new Promise<StreamOutcome>((resolve) => new GatewayStream(req, res, ctx, up, pool, link, resolve, setCookie).start(buffered));
    if (outcome === 'done') return { done: true };
    // Taken out of the pool (killed for --harakiri, or stopping): another upstream, not a new link.
    if (up.removed) {
      logResend(ctx, up, req, 'sending it to another worker');
      return { done: false, code: 'PORTICO_ERR_UPSTREAM_ABORTED', detail: ': its worker went away before it answered' };
    }
    logResend(ctx, up, req, 'sending it again on a new one');
  }
}

function logResend(ctx: ForwardContext, up: Upstream, req: ForwardedRequest, what: string): void {
  const why = up.stuckSince !== undefined ? 'got no answer from the worker killed for --harakiri' : 'was not taken by the worker (it closed the connection, or is stopping)';
  ctx.log.info(`native link ${up.label}: ${req.method} ${req.url} ${why}; ${what}`);
}
