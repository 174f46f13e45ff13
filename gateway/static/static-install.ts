import type { FastifyInstance } from 'fastify';
import type { StaticCache } from './static-cache.js';

/**
 * The static cache as fastify hooks, for the requests node:http parsed (the lean front asks the
 * cache itself): an onRequest hook answers a cached file before routing (after the hooks
 * registered before it: a --gateway-plugin's auth, say), and fastify's answers from
 * @fastify/static fill the cache.
 */
export function staticCacheHooks(app: FastifyInstance, cache: StaticCache): void {
  app.addHook('onRequest', (request, reply, done) => {
    // Answered from memory: fastify runs no further hook and no route for a hijacked reply.
    if (cache.tryServe(request.raw, reply.raw)) reply.hijack();
    done();
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
