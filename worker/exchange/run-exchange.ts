import { PorticoError } from '../../common/errors.js';
import { isValidHost } from '../../protocol/http/host.js';
import type { Exchange } from './exchange.js';
import type { WorkerContext } from '../worker-context.js';

/**
 * Runs the handler; what it throws or rejects with fails the exchange. Not an async function: most
 * handlers finish synchronously, and one promise less per request is measurable.
 */
export function runExchange(ex: Exchange, ctx: WorkerContext): void {
  const refusal = refuse(ex);
  if (refusal) return failOrReject(ex, refusal);
  let out: void | Promise<void>;
  try {
    out = ex.isWebSocketUpgrade ? upgrade(ex, ctx) : ctx.handler(ex);
  } catch (err) {
    failOrReject(ex, err);
    return;
  }
  if (out) void Promise.resolve(out).then(undefined, (err: unknown) => ex.fail(err));
}

/**
 * A WebSocket handshake goes to the app's upgrade handler with the connection (a node-kind
 * http.Server's 'upgrade' listeners, on a uwsgi connection: uWSGI's way behind nginx), or is
 * refused with 501 and a code; never served as the plain GET it also is.
 */
function upgrade(ex: Exchange, ctx: WorkerContext): Promise<void> {
  const why = !ex.canTakeOver
    ? 'the native link does not carry WebSockets yet: serve them with nginx uwsgi_pass -> portico worker (docs/apps.md)'
    : ctx.handler.upgrade === undefined
      ? "this app kind takes no upgrades: a fetch app takes them with upgradeWebSocket(request), a node app is an http.Server with an 'upgrade' listener (ws, socket.io)"
      : null;
  const taken = why === null ? ctx.handler.upgrade!(ex) : null;
  if (taken !== null) return taken;
  throw new PorticoError('PORTICO_ERR_UPGRADE_UNSUPPORTED', why ?? "the exported http.Server has no 'upgrade' listener (new WebSocketServer({ server }) adds one)");
}

/** fail() at once, and if fail() itself throws, an unhandled rejection (as from an async run) rather than a throw into 'data'. */
function failOrReject(ex: Exchange, err: unknown): void {
  try {
    ex.fail(err);
  } catch (e) {
    void Promise.reject(e);
  }
}

/**
 * What no app is given, whichever front sent it: a packet with no vars at all (not a request),
 * and a Host that could move the path an app parses out of its URL (protocol/http/host.ts). nginx
 * refuses some bad Hosts itself; uWSGI's router and direct clients pass anything.
 */
function refuse(ex: Exchange): PorticoError | null {
  const vars = ex.vars;
  if (vars.flat.length === 0) return new PorticoError('PORTICO_ERR_EMPTY_REQUEST');
  const host = vars.get('HTTP_HOST');
  if (host !== undefined && host !== '' && !isValidHost(host)) return new PorticoError('PORTICO_ERR_INVALID_HOST', JSON.stringify(host.slice(0, 128)));
  return null;
}
