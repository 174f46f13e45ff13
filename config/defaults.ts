import { availableParallelism } from 'node:os';

/** One place for every default value; the CLI help and docs read them from here. */
export const defaults = {
  /**
   * The largest vars block accepted: the protocol's maximum. uWSGI's default of 4096 is its most
   * reported failure ("invalid request block size" and a 502 for a big cookie); the limit costs
   * nothing here (no buffer of that size is allocated), so nothing is refused that the format allows.
   */
  bufferSize: 65535,
  /** The uwsgi header's datasize is a u16, so no vars block can be larger. */
  maxBufferSize: 65535,
  /**
   * listen(2) backlog, as uWSGI's --listen; for the gateway, the requests that may wait for a free
   * upstream slot. uWSGI's 100 is its other most reported failure ("listen queue full"); the kernel
   * caps a backlog at net.core.somaxconn (4096 on current kernels), and a larger value gets a warning.
   */
  listen: 1024,
  /** Seconds to finish in-flight requests after SIGTERM. */
  gracefulTimeout: 30,
  /**
   * Seconds a chunked request body (no CONTENT_LENGTH: uWSGI's HTTP router) may take to start
   * before the worker answers 411: uWSGI's own chunked input waits its --socket-timeout, 4 s.
   */
  chunkedInputTimeout: 4,
  /** TCP sockets accept only these peers unless --allow-from says otherwise. */
  allowFrom: ['127.0.0.1', '::1', '::ffff:127.0.0.1'],
  /** Peers whose X-Forwarded-For/-Proto the gateway believes. */
  trustedProxies: ['127.0.0.0/8', '::1', 'unix'],
  /** Seconds the gateway waits for a worker's response head before answering 504. */
  upstreamTimeout: 60,
  /**
   * Seconds a portico:// upstream whose native handshake was refused (real uWSGI, an old worker)
   * is skipped without connecting, like nginx's fail_timeout: such a peer will not change its mind
   * on the next request, unlike a refused connect (a worker restarting), which is retried each time.
   */
  nativeHandshakeBackoff: 10,
  /**
   * Version 2 native links the gateway keeps to one portico:// upstream, at most (one more is
   * opened only while every link has a request in flight). Each carries any number of requests at
   * once; more than one matters when a master's workers share the socket, since each link lands
   * on one of them: as many as the master's default worker count. `portico serve` uses 1, as each
   * of its workers has a socket of its own.
   */
  upstreamLinks: 2 * availableParallelism() + 1,
  /** Requests the gateway sends one upstream at a time; more wait in the --listen queue. */
  upstreamConcurrency: 64,
  /** gunicorn's defaults: the longest request line (414 past it), header fields per request and bytes per field (431). */
  limitRequestLine: 4094,
  limitRequestFields: 100,
  limitRequestFieldSize: 8190,
  /** Seconds for a request head to arrive (nginx's client_header_timeout), and for the whole request (Node's default). */
  headersTimeout: 60,
  requestTimeout: 300,
  /** Open client connections the gateway accepts at once (past it, an idle one makes room or the new one is closed). */
  maxConnections: 10_000,
  /** The largest request body: a larger Content-Length is refused with 413, a chunked body is cut there (and buffered up to it for the uwsgi link, which needs CONTENT_LENGTH). */
  bodyLimit: 64 * 1024 * 1024,
  /**
   * The gateway's idle keep-alive timeout in ms (--keepalive-timeout): longer than nginx's upstream
   * keepalive_timeout (60 s) so nginx always closes first and never reuses a connection the
   * gateway is closing.
   */
  gatewayKeepAliveTimeoutMs: 75_000,
  /** How `portico serve`'s gateway talks to its workers: the keep-alive native link. */
  serveLink: 'native' as 'native' | 'uwsgi',
  /** Worker processes under the master: gunicorn's recommendation, 2 x cores + 1. */
  processes: Math.min(2 * availableParallelism() + 1, 1024),
  /** --processes (and SIGTTIN) at most: far past any machine's cores, short of forking until the system gives out. */
  maxProcesses: 1024,
  /** Seconds between harakiri's SIGTERM and its SIGKILL (a blocked event loop never handles the SIGTERM). */
  harakiriGracefulTimeout: 0.5,
  /** A worker that dies younger than this many seconds counts towards the respawn backoff. */
  minWorkerLifetime: 10,
  /** How long the stats server waits for a worker's watchdog to answer, in ms. */
  statsTimeoutMs: 500,
  /** Client request timeout for `portico request`, in milliseconds. */
  requestTimeoutMs: 30_000,
} as const;
