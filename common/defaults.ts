/** One place for every default value; the CLI help and docs read them from here. */
export const defaults = {
  /** uWSGI's --buffer-size default: the largest vars block accepted. */
  bufferSize: 4096,
  /** The uwsgi header's datasize is a u16, so no vars block can be larger. */
  maxBufferSize: 65535,
  /** listen(2) backlog, as uWSGI's --listen; for the gateway, the requests that may wait for a free upstream slot. */
  listen: 100,
  /** Seconds to finish in-flight requests after SIGTERM. */
  gracefulTimeout: 30,
  /** TCP sockets accept only these peers unless --allow-from says otherwise. */
  allowFrom: ['127.0.0.1', '::1', '::ffff:127.0.0.1'],
  /** Socket file mode when --chmod-socket is not given (umask applies, as with uWSGI). */
  chmodSocket: undefined as number | undefined,
  /** Peers whose X-Forwarded-For/-Proto the gateway believes. */
  trustedProxies: ['127.0.0.0/8', '::1', 'unix'],
  /** Seconds the gateway waits for a worker's response head before answering 504. */
  upstreamTimeout: 60,
  /** Requests the gateway sends one upstream at a time; more wait in the --listen queue. */
  upstreamConcurrency: 64,
  /** A request body of unknown length (chunked) is buffered up to this many bytes for the uwsgi link, which needs CONTENT_LENGTH. */
  bodyLimit: 64 * 1024 * 1024,
  /**
   * The gateway's idle keep-alive timeout in ms: longer than nginx's upstream keepalive_timeout
   * (60 s) so nginx always closes first and never reuses a connection the gateway is closing.
   */
  gatewayKeepAliveTimeoutMs: 75_000,
  /** How `portico serve`'s gateway talks to its workers: the keep-alive native link. */
  serveLink: 'native' as 'native' | 'uwsgi',
  /** Workers `portico serve` starts when --workers is not given. */
  serveWorkers: 1,
  /** Client request timeout for `portico request`, in milliseconds. */
  requestTimeoutMs: 30_000,
} as const;
