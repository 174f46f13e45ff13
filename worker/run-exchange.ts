import type { Exchange } from './exchange.js';
import type { WorkerContext } from './worker-context.js';

/**
 * Runs the handler; what it throws or rejects with fails the exchange. Not an async function: most
 * handlers finish synchronously, and one promise less per request is measurable.
 */
export function runExchange(ex: Exchange, ctx: WorkerContext): void {
  let out: void | Promise<void>;
  try {
    out = ctx.handler(ex);
  } catch (err) {
    failOrReject(ex, err);
    return;
  }
  if (out) void Promise.resolve(out).then(undefined, (err: unknown) => ex.fail(err));
}

/** fail() at once, and if fail() itself throws, an unhandled rejection (as from an async run) rather than a throw into 'data'. */
function failOrReject(ex: Exchange, err: unknown): void {
  try {
    ex.fail(err);
  } catch (e) {
    void Promise.reject(e);
  }
}
