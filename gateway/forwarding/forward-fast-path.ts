import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';

/**
 * Hands every request that is not for a --static mount straight from Node's 'request' event to
 * the forwarder. fastify adds nothing to those requests (no parser, no hooks, the route hijacks
 * the reply at once), but building its request and reply objects and routing cost several
 * microseconds each, measurable next to the forward itself. Anything else keeps fastify's path:
 * the static mounts (and the static cache in front of them), methods the gateway does not
 * forward, and every request once the server is closing (fastify answers those with 503).
 */
export function installForwardFastPath(
  app: FastifyInstance,
  staticPrefixes: readonly string[],
  methods: ReadonlySet<string>,
  forward: (req: IncomingMessage, res: ServerResponse) => void,
): void {
  const server = app.server;
  const handlers = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>;
  // Exactly one handler (fastify's, maybe wrapped by the static cache) is expected; otherwise stay out.
  if (handlers.length !== 1) return;
  const inner = handlers[0]!;
  server.removeListener('request', inner);
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (closing || !methods.has(req.method ?? '') || isStatic(req.url ?? '/', staticPrefixes)) {
      inner.call(server, req, res);
      return;
    }
    forward(req, res);
  });
}

/** Under a mount's prefix: fastify decides (a file, or its catch-all route for a near miss). */
function isStatic(url: string, prefixes: readonly string[]): boolean {
  for (const p of prefixes) if (url.startsWith(p)) return true;
  return false;
}
