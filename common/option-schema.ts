import { defaults } from './defaults.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  default?: string | boolean;
  arg?: string;
  help: string;
}

/*
 * Every command-line option, defined once: parseArgs reads the types, `--help` prints the rest.
 * Names follow uWSGI where it has one.
 */

/** Options of the worker process, shared by `worker` and `serve`. */
export const workerOptionsBase = {
  kind: { type: 'string', arg: 'fetch|wsgi|node', help: 'force the kind of app instead of detecting it' },
  'buffer-size': { type: 'string', short: 'b', arg: 'BYTES', default: String(defaults.bufferSize), help: 'largest uwsgi vars block accepted (at most 65535)' },
  listen: { type: 'string', short: 'l', arg: 'N', default: String(defaults.listen), help: 'socket listen backlog' },
  'chmod-socket': { type: 'string', arg: 'MODE', help: 'mode of the unix socket file, e.g. 666 or 660 (nginx must be able to connect)' },
  'allow-from': { type: 'string', multiple: true, arg: 'ADDR', help: `peer address a TCP socket accepts (repeatable; default ${defaults.allowFrom.join(', ')})` },
  vacuum: { type: 'boolean', default: true, help: 'remove the socket file on exit (--no-vacuum to keep it)' },
  'graceful-timeout': { type: 'string', arg: 'SECONDS', default: String(defaults.gracefulTimeout), help: 'time in-flight requests get to finish on SIGTERM' },
  'disable-logging': { type: 'boolean', default: false, help: 'no per-request log line' },
  'log-format': { type: 'string', arg: 'text|json', default: 'text', help: 'uWSGI-style text lines, or one pino JSON object per line' },
  logto: { type: 'string', arg: 'FILE', help: 'log to FILE instead of stderr' },
  'native-response': { type: 'boolean', default: false, help: "keep Node's own Response class (no fast path for string/byte bodies)" },
} as const satisfies Record<string, OptionSpec>;

/** The master's options (worker and serve): names as in uWSGI, gunicorn's as aliases. */
export const masterOptions = {
  master: { type: 'boolean', default: true, help: 'run a master that supervises the worker processes (--no-master: one process, no guards)' },
  processes: { type: 'string', short: 'p', arg: 'N', default: String(defaults.processes), help: 'worker processes (default 2 x cores + 1, as gunicorn recommends)' },
  workers: { type: 'string', short: 'w', arg: 'N', help: 'alias of --processes' },
  harakiri: { type: 'string', arg: 'SECONDS', default: '0', help: 'kill and replace a worker whose request runs longer (0: never)' },
  timeout: { type: 'string', arg: 'SECONDS', help: "alias of --harakiri (gunicorn's name)" },
  'harakiri-graceful-timeout': { type: 'string', arg: 'SECONDS', default: String(defaults.harakiriGracefulTimeout), help: 'after harakiri\'s SIGTERM, SIGKILL once this has passed' },
  'max-requests': { type: 'string', arg: 'N', default: '0', help: 'recycle a worker after N requests (0: never)' },
  'max-requests-jitter': { type: 'string', arg: 'N', default: '0', help: 'add 0..N to each worker\'s --max-requests so they do not all recycle at once' },
  'reload-on-rss': { type: 'string', arg: 'MB', default: '0', help: 'recycle a worker whose RSS grows past MB (0: never)' },
  'min-worker-lifetime': { type: 'string', arg: 'SECONDS', default: String(defaults.minWorkerLifetime), help: 'a worker that dies younger counts towards the respawn backoff' },
  'touch-reload': { type: 'string', arg: 'FILE', help: 'chain-reload the workers when FILE\'s mtime changes' },
  pidfile: { type: 'string', arg: 'FILE', help: "write the master's pid to FILE (removed at exit)" },
  uid: { type: 'string', arg: 'USER|UID', help: 'drop to this user after binding (when started as root)' },
  gid: { type: 'string', arg: 'GROUP|GID', help: 'drop to this group after binding (when started as root)' },
  stats: { type: 'string', arg: 'PATH|HOST:PORT', help: 'stats server: JSON about the master and each worker on every connection (portico top)' },
  metrics: { type: 'string', arg: 'HOST:PORT', help: 'HTTP server: /metrics (Prometheus text, all workers and the gateway), /healthz, /readyz' },
} as const satisfies Record<string, OptionSpec>;

export const workerOptions = {
  socket: { type: 'string', short: 's', arg: 'PATH|HOST:PORT', help: 'uwsgi socket to serve (unix path, or HOST:PORT for TCP)' },
  ...workerOptionsBase,
  ...masterOptions,
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const satisfies Record<string, OptionSpec>;

export const gatewayOptions = {
  http: { type: 'string', arg: 'HOST:PORT|unix:PATH', help: 'where the gateway listens for HTTP' },
  upstream: { type: 'string', multiple: true, arg: 'uwsgi://unix:PATH|portico://unix:PATH|...HOST:PORT', help: 'a worker socket to forward to (repeatable); portico:// uses the native link' },
  static: { type: 'string', multiple: true, arg: '/prefix=DIR', help: "serve DIR's files under /prefix (repeatable; uWSGI's static-map)" },
  'trusted-proxies': { type: 'string', multiple: true, arg: 'CIDR|unix', help: `peers whose X-Forwarded-For/-Proto are believed (default ${defaults.trustedProxies.join(', ')})` },
  'upstream-timeout': { type: 'string', arg: 'SECONDS', default: String(defaults.upstreamTimeout), help: 'wait this long for a worker\'s response head, then 504' },
  'upstream-concurrency': { type: 'string', arg: 'N', default: String(defaults.upstreamConcurrency), help: 'requests in flight to each upstream at most; more wait in the --listen queue' },
  listen: { type: 'string', short: 'l', arg: 'N', default: String(defaults.listen), help: 'requests that may wait for a free upstream, like a listen backlog; past it 503 + Retry-After (serve: also the workers\' socket backlog)' },
  'body-limit': { type: 'string', arg: 'BYTES', default: String(defaults.bodyLimit), help: 'largest request body: a larger Content-Length gets 413, a chunked body past it closes the connection' },
  'limit-request-line': { type: 'string', arg: 'BYTES', default: String(defaults.limitRequestLine), help: "longest request line (414 past it; gunicorn's name)" },
  'limit-request-fields': { type: 'string', arg: 'N', default: String(defaults.limitRequestFields), help: 'most header fields in a request (431 past it)' },
  'limit-request-field-size': { type: 'string', arg: 'BYTES', default: String(defaults.limitRequestFieldSize), help: 'largest header field, name: value CRLF (431 past it)' },
  'headers-timeout': { type: 'string', arg: 'SECONDS', default: String(defaults.headersTimeout), help: 'time for a request line and headers to arrive (408 past it: slowloris)' },
  'request-timeout': { type: 'string', arg: 'SECONDS', default: String(defaults.requestTimeout), help: 'time for a whole request, body included, to arrive (408 or close past it)' },
  'max-connections': { type: 'string', arg: 'N', default: String(defaults.maxConnections), help: 'open client connections at most; more are closed at once' },
  'log-format': workerOptionsBase['log-format'],
  logto: workerOptionsBase.logto,
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const satisfies Record<string, OptionSpec>;

/** `portico serve` takes the gateway's options, the worker's, and --workers. */
export const serveOptions = {
  ...workerOptionsBase,
  ...gatewayOptions,
  ...masterOptions,
  link: { type: 'string', arg: 'native|uwsgi', default: defaults.serveLink, help: 'how the gateway talks to the workers: uwsgi packets, one connection per request, or the keep-alive native link' },
} as const satisfies Record<string, OptionSpec>;

export const requestOptions = {
  socket: { type: 'string', short: 's', arg: 'PATH|HOST:PORT', help: 'uwsgi server to send the request to' },
  request: { type: 'string', short: 'X', arg: 'METHOD', help: 'request method (default GET, or POST with -d)' },
  header: { type: 'string', short: 'H', multiple: true, arg: "'Name: value'", help: 'request header (repeatable)' },
  data: { type: 'string', short: 'd', arg: 'DATA|@FILE', help: 'request body, or @FILE to send a file' },
  include: { type: 'boolean', short: 'i', default: false, help: 'print the status line and headers too' },
  modifier1: { type: 'string', arg: 'N', default: '0', help: 'uwsgi modifier1 of the packet' },
  timeout: { type: 'string', arg: 'SECONDS', default: String(defaults.requestTimeoutMs / 1000), help: 'give up after this long' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const satisfies Record<string, OptionSpec>;

/** `portico top`, like uwsgitop: reads a master's --stats server. */
export const topOptions = {
  stats: { type: 'string', arg: 'PATH|HOST:PORT', help: "the master's --stats address (or give it as the argument)" },
  once: { type: 'boolean', default: false, help: 'print one snapshot as text and exit (1 if the stats server cannot be read)' },
  json: { type: 'boolean', default: false, help: 'with --once: print the stats document as the server wrote it' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const satisfies Record<string, OptionSpec>;

export type OptionValues = Record<string, string | boolean | string[] | undefined>;

/** Turns parsed values back into flags, for the options named in `specs` (how serve starts workers). */
export function toArgv(values: OptionValues, specs: Record<string, OptionSpec>): string[] {
  const argv: string[] = [];
  for (const name of Object.keys(specs)) {
    const v = values[name];
    if (v === undefined || v === specs[name]!.default) continue;
    if (typeof v === 'boolean') argv.push(v ? `--${name}` : `--no-${name}`);
    else for (const item of Array.isArray(v) ? v : [v]) argv.push(`--${name}`, item);
  }
  return argv;
}

export function formatHelp(usage: string, options: Record<string, OptionSpec>): string {
  const rows = Object.entries(options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.arg ? ` ${o.arg}` : ''}`;
    const def = o.default !== undefined && o.type === 'string' ? ` (default ${o.default})` : '';
    return `  ${flag.padEnd(36)} ${o.help}${def}`;
  });
  return `${usage}\n\nOptions:\n${rows.join('\n')}\n`;
}
