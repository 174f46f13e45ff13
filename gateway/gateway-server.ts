import { realpath } from 'node:fs/promises';
import { sep } from 'node:path';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance } from 'fastify';
import { defaults } from '../config/defaults.js';
import { RequestCounters } from '../common/request-metrics.js';
import { PorticoError, type ErrorCode } from '../common/errors.js';
import { Logger, type LogFormat } from '../common/logger.js';
import { formatSocketAddress, listenError, parseSocketAddress, type SocketAddress } from '../protocol/socket-address.js';
import { StaticCache } from './static/static-cache.js';
import { AccessLog, type AccessMode } from './front/access-log.js';
import { staticCacheHooks } from './static/static-install.js';
import { installSiblingCheck } from './static/static-siblings.js';
import type { StaticMount } from './static/static-mounts.js';
import { TrustedProxies } from './front/trusted-proxies.js';
import type { ForwardedRequest, ForwardedResponse, InProcessApp } from './forwarding/forward-types.js';
import { answeredByWorker } from './front/access-log.js';
import { requestHasBody, varsForHttpRequest } from './forwarding/http-request-vars.js';
import { createHttpFront, type HttpFront } from './front/http-front.js';
import { upgradeForwarder, type UpgradeHandOff } from './forwarding/upgrade-forwarder.js';
import { ReplyResponse } from './forwarding/reply-response.js';
import { registerGatewayPlugins } from './gateway-plugins.js';
import { StickySessions } from './forwarding/sticky-sessions.js';
import { forwardFailed, type ForwardContext } from './forwarding/forward-common.js';
import { forwardNow, forwardRequest } from './forwarding/forward-request.js';
import { onClientError, resolveHttpLimits, type HttpLimitOptions, type HttpLimits } from './front/http-limits.js';
import { NativeLinkPool } from './link/link-pool.js';
import type { OtelSettings } from '../common/otel-config.js';
import type { GatewayTracing } from './gateway-tracing.js';
import { parseUpstream, upstreamSpec, UpstreamPool, type Upstream } from './forwarding/upstream-pool.js';

export interface GatewayOptions extends HttpLimitOptions {
  /** Access lines: 'all' (portico gateway), 'own' (portico serve: what the workers do not log), or none. */
  accessLog?: AccessMode | false;
  http: string;
  upstreams: string[];
  statics?: StaticMount[];
  trustedProxies?: string[];
  upstreamTimeout?: number;
  /** In-flight requests per upstream; more wait in a queue of at most `listen` (then 503). */
  upstreamConcurrency?: number;
  /** Native links per portico:// upstream (defaults.upstreamLinks). */
  upstreamLinks?: number;
  listen?: number;
  logFormat?: LogFormat;
  logto?: string;
  /** --req-logger: access lines go to this file, not to `logto`. */
  requestLogto?: string;
  logger?: Logger;
  /** Upstreams come and go at run time (serve's master adds and removes workers): none at start is fine. */
  dynamicUpstreams?: boolean;
  /** A request found no upstream and waits for one (serve --cheap: start the workers). */
  onNoUpstream?: () => void;
  /** A listening socket inherited from systemd (socket activation) to serve instead of binding `http`. */
  listenFd?: number;
  /** Count forwarded requests for the master's --metrics (serve). */
  metrics?: boolean;
  /** serve: upgraded connections go to the worker processes themselves (gateway/forwarding/upgrade-forwarder.ts). */
  upgradeHandOff?: UpgradeHandOff;
  /** --otel (common/otel-config.ts): spans for each forwarded request. null or absent: none, nothing of OpenTelemetry loaded. */
  otel?: OtelSettings | null;
  /** --gateway-plugin: files whose default export is a fastify plugin, registered in front of the forwarding route. */
  plugins?: string[];
  /** `portico worker --http-socket`: the app runs in this process and takes every request (no upstreams). */
  inProcess?: InProcessApp;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];
/** Methods fastify knows only when asked; the app behind decides what they mean. */
const EXTRA_METHODS = ['PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'SEARCH', 'REPORT'];
const FORWARDED_METHODS: ReadonlySet<string> = new Set([...METHODS, ...EXTRA_METHODS]);

/**
 * The HTTP front: fastify, on a server made by its serverFactory (gateway/front/http-front.ts),
 * serves the --static mounts with @fastify/static and hands every other request to the worker pool
 * through one route; the lean front takes the requests it can answer without node:http's objects
 * (no --gateway-plugin) and gives them to the same forwarder. Bodies stream both ways without
 * fastify parsing or buffering them.
 */
export class GatewayServer {
  readonly log: Logger;
  readonly listenAddress: SocketAddress;
  private app: FastifyInstance | null = null;
  private front: HttpFront | null = null;
  private readonly options: GatewayOptions;
  private ctx: ForwardContext | null = null;
  private readonly staticCache = new StaticCache();
  /** Access lines (gateway/front/access-log.ts): every request under `gateway`, its own under `serve`. */
  private readonly access: AccessLog | null;
  private readonly limits: HttpLimits;
  private readonly trusted: TrustedProxies;
  private tracing: GatewayTracing | null = null;
  /** Forwarded requests by status class and latency, when --metrics asks (plain numbers, cheap). */
  readonly requestMetrics: RequestCounters | null;

  constructor(options: GatewayOptions) {
    this.options = options;
    this.log = options.logger ?? new Logger({ format: options.logFormat, file: options.logto, requestFile: options.requestLogto });
    this.listenAddress = parseSocketAddress(options.http);
    if (options.upstreams.length === 0 && !options.dynamicUpstreams && !options.inProcess) {
      throw new PorticoError('PORTICO_ERR_INVALID_OPTION', 'the gateway needs at least one --upstream');
    }
    this.limits = resolveHttpLimits(options);
    this.requestMetrics = options.metrics ? new RequestCounters() : null;
    this.trusted = new TrustedProxies(options.trustedProxies ?? defaults.trustedProxies);
    this.access = options.accessLog ? new AccessLog(this.log, options.accessLog, this.trusted) : null;
  }

  async start(): Promise<void> {
    const o = this.options;
    const pool = new UpstreamPool(o.upstreams.map(parseUpstream), o.upstreamConcurrency ?? defaults.upstreamConcurrency, o.listen ?? defaults.listen);
    const upstreamTimeoutMs = (o.upstreamTimeout ?? defaults.upstreamTimeout) * 1000;
    // Imported only now: without --otel no OpenTelemetry module is loaded at all.
    const tracing = o.otel ? new (await import('./gateway-tracing.js')).GatewayTracing(o.otel, this.log) : null;
    this.tracing = tracing;
    const ctx: ForwardContext = {
      pool,
      onNoUpstream: o.onNoUpstream,
      native: new Map(pool.upstreams.filter((u) => u.link === 'native').map((u) => [u, new NativeLinkPool(u, upstreamTimeoutMs, o.upstreamLinks ?? defaults.upstreamLinks)])),
      trusted: this.trusted,
      tracing,
      log: this.log,
      upstreamTimeoutMs,
      bodyLimit: this.limits.bodyLimit,
      sticky: new StickySessions(),
      inProcess: o.inProcess ?? null,
    };
    this.ctx = ctx;
    const statics = o.statics ?? [];
    const plugins = o.plugins ?? [];
    const local = o.inProcess;
    const forward = local
      ? (req: ForwardedRequest, res: ForwardedResponse): void => {
          // The app's own request line is the log's, as a worker's behind a link.
          if (this.access !== null) answeredByWorker(res);
          // A lean request without a body says so (readableEnded): no scan of its headers.
          local.serve(req, res, varsForHttpRequest(req, ctx, undefined), !req.readableEnded && requestHasBody(req));
        }
      : (req: ForwardedRequest, res: ForwardedResponse): void => {
          this.requestMetrics?.track(res);
          if (tracing !== null) tracing.receive(req, res);
          if (!forwardNow(req, res, ctx)) forwardRequest(req, res, ctx).catch((err: unknown) => forwardFailed(res, ctx, req, err));
        };
    const handOff = o.upgradeHandOff ?? null;
    const { limits, log, access } = this;
    const app = Fastify({
      logger: false,
      return503OnClosing: true,
      // Node's refusals (its parser, its timeouts) get a code and a log line like the gateway's own.
      clientErrorHandler: (err, socket) => onClientError(err, socket, log, access),
      serverFactory: (handler) => {
        this.front = createHttpFront(handler, {
          limits,
          log,
          access,
          upgrade: upgradeForwarder(ctx, limits, access, handOff),
          // The lean front answers without fastify: only while no plugin's hooks have to see every request.
          lean:
            plugins.length > 0
              ? null
              : {
                  staticPrefixes: statics.map((m) => m.prefix),
                  staticCache: statics.length > 0 ? this.staticCache : null,
                  elsewhere: handOff === null ? undefined : () => handOff.open,
                  methods: FORWARDED_METHODS,
                  allNative: () => ctx.pool.upstreams.every((u) => u.link === 'native'),
                  forward,
                },
        });
        return this.front.server;
      },
    });
    this.app = app;
    const lean = this.front!.lean;
    if (lean !== null) {
      app.addHook('preClose', (done) => {
        lean.close();
        done();
      });
    }
    // Bodies belong to the workers: fastify must not parse or consume them.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_req, _payload, done) => done(null));
    for (const m of EXTRA_METHODS) app.addHttpMethod(m, { hasBody: true });
    // First, so their hooks run before anything answers (the static files too) and see every request.
    await registerGatewayPlugins(app, plugins);
    const resolved: Array<{ prefix: string; under: string }> = [];
    for (const [i, mount] of statics.entries()) {
      const realRoot = await realpath(mount.root);
      const under = realRoot.endsWith(sep) ? realRoot : realRoot + sep;
      resolved.push({ prefix: mount.prefix, under });
      this.staticCache.addMount(mount.prefix, under);
      await app.register(fastifyStatic, {
        root: mount.root,
        prefix: mount.prefix,
        decorateReply: i === 0,
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
    }
    if (statics.length > 0) {
      installSiblingCheck(app, resolved);
      // With a plugin, each static file comes from @fastify/static, through the plugin's hooks.
      if (plugins.length === 0) staticCacheHooks(app, this.staticCache);
    }
    app.route({
      // A plugin may have taken one already: @fastify/cors answers preflights with its own `OPTIONS *`.
      method: [...FORWARDED_METHODS].filter((method) => !app.hasRoute({ method, url: '/*' })),
      url: '/*',
      // With a plugin, the worker's answer goes out through fastify's reply, so the plugin's onSend
      // hooks see it (compression, headers); without one, the raw response is the forwarder's.
      handler:
        plugins.length > 0
          ? (request, reply) => forward(request.raw, new ReplyResponse(reply))
          : (request, reply) => {
              reply.hijack();
              forward(request.raw, reply.raw);
            },
    });
    const addr = this.listenAddress;
    try {
      if (o.listenFd !== undefined) await listenOnFd(app, o.listenFd);
      else if (addr.kind === 'unix') await app.listen({ path: addr.path });
      else await app.listen({ host: addr.host, port: addr.port });
    } catch (err) {
      // One line naming the address and the fix (a port in use, below 1024), never fastify's stack.
      throw listenError(err as NodeJS.ErrnoException, addr);
    }
    const upstreams = ctx.pool.upstreams.map(upstreamSpec);
    const behind = o.inProcess ? 'the app in this process' : upstreams.length > 0 ? upstreams.join(', ') : "the master's workers, as they start";
    this.log.info(`portico ${o.inProcess ? 'worker' : 'gateway'} ${process.pid}: http on ${this.url} -> ${behind}`);
  }

  /** Starts sending requests to a new upstream (a worker the master started). */
  addUpstream(spec: string): void {
    const ctx = this.ctx;
    if (!ctx) return;
    const up = parseUpstream(spec);
    if (up.link === 'native') ctx.native.set(up, new NativeLinkPool(up, ctx.upstreamTimeoutMs, this.options.upstreamLinks ?? defaults.upstreamLinks));
    ctx.pool.add(up);
    this.log.info(`gateway: forwarding to ${spec}`);
  }

  /**
   * Stops sending new requests to an upstream; those in flight finish, or fail with `failCode`
   * if its worker goes away (504 after a harakiri, except the idempotent ones sent after
   * `stuckSince` and never answered: they go to another worker). Its idle native links are closed.
   */
  removeUpstream(spec: string, failCode?: ErrorCode, stuckSince?: number): void {
    const ctx = this.ctx;
    if (!ctx) return;
    const up = this.findUpstream(spec);
    if (!up) return;
    ctx.pool.remove(up, failCode, stuckSince);
    ctx.native.get(up)?.close();
    // A request still in flight looks its link pool up again only before it sends anything.
    if (up.outstanding === 0) ctx.native.delete(up);
  }

  /** Its worker's event loop is blocked (true) or answers again: new requests go elsewhere meanwhile. */
  setUpstreamStalled(spec: string, stalled: boolean): void {
    const up = this.findUpstream(spec);
    if (up) this.ctx!.pool.setStalled(up, stalled);
  }

  private findUpstream(spec: string): Upstream | undefined {
    const wanted = parseUpstream(spec);
    return this.ctx?.pool.upstreams.find((u) => u.label === wanted.label && u.link === wanted.link);
  }

  get queueDepth(): number {
    return this.ctx?.pool.queue.length ?? 0;
  }

  /** http://host:port of the listener (the real port when 0 was asked for). */
  get url(): string {
    const a = this.front?.server.address();
    if (a && typeof a === 'object') return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
    return `unix:${formatSocketAddress(this.listenAddress)}`;
  }

  /**
   * A gateway process being replaced (--gateway-processes): stops accepting (the others on the
   * shared socket take new connections) and ends each connection after its next response.
   * Resolves once every connection is closed; stop() then finishes the rest.
   */
  drain(): Promise<void> {
    const front = this.front;
    front?.lean?.drain();
    return new Promise((resolve) => (front === null ? resolve() : front.server.close(() => resolve())));
  }

  /** Stops accepting and waits for in-flight requests (fastify's close, and the server's on an inherited descriptor). */
  async stop(): Promise<void> {
    await this.app?.close();
    // On an inherited descriptor (listenOnFd) fastify did not start the server, and with a
    // serverFactory it then does not close it either: the gateway does, and waits for the
    // connections still answering (node:http's and the lean front's alike).
    const server = this.front?.server;
    if (server?.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    for (const pool of this.ctx?.native.values() ?? []) {
      pool.close();
      // How well keep-alive worked: far fewer connections than requests.
      this.log.info(`native link ${pool.upstream.label}: ${pool.opened} connections for ${pool.requests} requests`);
    }
    // The spans still batched leave before the process does.
    await this.tracing?.shutdown();
    this.log.flush();
  }
}

/**
 * fastify's listen() takes no file descriptor: the server it made listens on the inherited socket
 * directly once fastify is ready (stop() closes it: fastify closes only a factory's server it started).
 */
async function listenOnFd(app: FastifyInstance, fd: number): Promise<void> {
  await app.ready();
  await new Promise<void>((resolve, reject) => {
    app.server.once('error', reject);
    app.server.listen({ fd }, () => {
      app.server.off('error', reject);
      resolve();
    });
  });
}

/** Answered as a missing file (404), so the response says nothing about what the link points at. */
function outsideRoot(): Error {
  return Object.assign(new Error('Not Found'), { statusCode: 404 });
}
