import type { FastifyInstance } from 'fastify';
import type { StaticCache } from './static-cache.js';

/**
 * Puts `cache` in front of fastify for the --static mounts. A cached file is answered straight
 * from node's 'request' event: measured, fastify's routing, request/reply objects and hooks cost
 * about as much as the write itself for a 4 KiB file. Every request the cache cannot answer goes
 * to fastify's own handler unchanged, and fastify's answers from @fastify/static fill the cache.
 */
export function installStaticCache(app: FastifyInstance, cache: StaticCache): void {
  const server = app.server;
  const handlers = server.listeners('request') as Array<(...args: unknown[]) => void>;
  // Exactly fastify's handler is expected; anything else and the cache stays out of the way.
  if (handlers.length !== 1) return;
  const fastifyHandler = handlers[0]!;
  server.removeListener('request', fastifyHandler);
  server.on('request', (req, res) => {
    if (!cache.tryServe(req, res)) fastifyHandler(req, res);
  });
  app.addHook('onResponse', (request, reply, done) => {
    cache.noteResponse(request.routeOptions.url ?? '', request.raw.url ?? '/', request.method, request.headers, reply.statusCode, reply.getHeaders());
    done();
  });
  // Closing: fastify answers 503 to what still arrives, so the cache must stop answering first.
  app.addHook('preClose', (done) => {
    cache.enabled = false;
    cache.clear();
    done();
  });
}
