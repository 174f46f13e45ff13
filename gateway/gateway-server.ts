import { realpath } from 'node:fs/promises';
import { sep } from 'node:path';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance } from 'fastify';
import { defaults } from '../common/defaults.js';
import { Logger, type LogFormat } from '../common/logger.js';
import { formatSocketAddress, parseSocketAddress, type SocketAddress } from '../protocol/socket-address.js';
import { StaticCache } from './static-cache.js';
import { installStaticCache } from './static-install.js';
import type { StaticMount } from './static-mounts.js';
import { TrustedProxies } from './trusted-proxies.js';
import type { ForwardContext } from './forward-common.js';
import { forwardRequest } from './forward-request.js';
import { NativeLinkPool } from './native-link-pool.js';
import { parseUpstream, UpstreamPool } from './upstream-pool.js';

export interface GatewayOptions {
  http: string;
  upstreams: string[];
  statics?: StaticMount[];
  trustedProxies?: string[];
  upstreamTimeout?: number;
  bodyLimit?: number;
  /** In-flight requests per upstream; more wait in a queue of at most `listen` (then 503). */
  upstreamConcurrency?: number;
  listen?: number;
  logFormat?: LogFormat;
  logto?: string;
  logger?: Logger;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];
/** Methods fastify knows only when asked; the app behind decides what they mean. */
const EXTRA_METHODS = ['PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'SEARCH', 'REPORT'];

/**
 * The HTTP front: fastify serves the --static mounts itself and hands every other request to the
 * worker pool. The forwarding route takes over the raw request and response (reply.hijack), so
 * bodies stream both ways without fastify parsing or buffering them.
 */
export class GatewayServer {
  readonly log: Logger;
  readonly listenAddress: SocketAddress;
  readonly app: FastifyInstance;
  private readonly options: GatewayOptions;
  private ctx: ForwardContext | null = null;
  private readonly staticCache = new StaticCache();

  constructor(options: GatewayOptions) {
    this.options = options;
    this.log = options.logger ?? new Logger({ format: options.logFormat, file: options.logto });
    this.listenAddress = parseSocketAddress(options.http);
    this.app = Fastify({ logger: false, return503OnClosing: true, keepAliveTimeout: defaults.gatewayKeepAliveTimeoutMs });
  }

  async start(): Promise<void> {
    const o = this.options;
    const pool = new UpstreamPool(o.upstreams.map(parseUpstream), o.upstreamConcurrency ?? defaults.upstreamConcurrency, o.listen ?? defaults.listen);
    const upstreamTimeoutMs = (o.upstreamTimeout ?? defaults.upstreamTimeout) * 1000;
    const ctx: ForwardContext = {
      pool,
      native: new Map(pool.upstreams.filter((u) => u.link === 'native').map((u) => [u, new NativeLinkPool(u, upstreamTimeoutMs)])),
      trusted: new TrustedProxies(o.trustedProxies ?? defaults.trustedProxies),
      log: this.log,
      upstreamTimeoutMs,
      bodyLimit: o.bodyLimit ?? defaults.bodyLimit,
    };
    this.ctx = ctx;
    const app = this.app;
    // Bodies belong to the workers: fastify must not parse or consume them.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_req, _payload, done) => done(null));
    let first = true;
    const statics = o.statics ?? [];
    for (const mount of statics) {
      const realRoot = await realpath(mount.root);
      const under = realRoot.endsWith(sep) ? realRoot : realRoot + sep;
      this.staticCache.addMount(mount.prefix, realRoot);
      await app.register(fastifyStatic, {
        root: mount.root,
        prefix: mount.prefix,
        decorateReply: first,
        dotfiles: 'ignore',
        index: ['index.html'],
        preCompressed: true,
        wildcard: true,
        // @fastify/static keeps the URL path inside the root, but the file system follows symlinks:
        // a link in DIR pointing out of it would publish its target. Only files whose real path
        // is under the root's are served (uWSGI's static-map checks the same way).
        onFile: async (file) => {
          const real = await realpath(file);
          if (!real.startsWith(under)) throw outsideRoot();
        },
      });
      first = false;
    }
    if (statics.length > 0) installStaticCache(app, this.staticCache);
    for (const m of EXTRA_METHODS) app.addHttpMethod(m, { hasBody: true });
    app.route({
      method: [...METHODS, ...EXTRA_METHODS],
      url: '/*',
      handler: (request, reply) => {
        reply.hijack();
        return forwardRequest(request.raw, reply.raw, ctx);
      },
    });
    const addr = this.listenAddress;
    if (addr.kind === 'unix') await app.listen({ path: addr.path });
    else await app.listen({ host: addr.host, port: addr.port });
    this.log.info(`portico gateway ${process.pid}: http on ${this.url} -> ${ctx.pool.upstreams.map((u) => `${u.link === 'native' ? 'portico' : 'uwsgi'}://${u.address.kind === 'unix' ? 'unix:' : ''}${u.label}`).join(', ')}`);
  }

  /** http://host:port of the listener (the real port when 0 was asked for). */
  get url(): string {
    const a = this.app.server.address();
    if (a && typeof a === 'object') return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
    return `unix:${formatSocketAddress(this.listenAddress)}`;
  }

  /** Stops accepting and waits for in-flight requests (fastify's close does both). */
  async stop(): Promise<void> {
    await this.app.close();
    for (const pool of this.ctx?.native.values() ?? []) {
      pool.close();
      // How well keep-alive worked: far fewer connections than requests.
      this.log.info(`native link ${pool.upstream.label}: ${pool.opened} connections for ${pool.requests} requests`);
    }
    this.log.flush();
  }
}

/** Answered as a missing file (404), so the response says nothing about what the link points at. */
function outsideRoot(): Error {
  return Object.assign(new Error('Not Found'), { statusCode: 404 });
}
