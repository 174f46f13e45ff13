import { defaults } from './defaults.js';

/** The server commands: their options also come from an ini file (--ini) and PORTICO_* variables. */
export type ServerCommand = 'worker' | 'serve' | 'gateway';

/** Another name for an option (gunicorn's or uWSGI's), with its own one-letter flag if it has one. */
type OptionAlias = string | { name: string; short: string };

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  default?: string | boolean;
  /** What help and docs/options.md show when the default depends on the machine. */
  defaultText?: string;
  arg?: string;
  help: string;
  /** Same option under other names: on the command line, as an ini key and as PORTICO_ALIAS. */
  aliases?: readonly OptionAlias[];
  /** The server commands that take it; a client command's own table (request, top) has none. */
  commands?: readonly ServerCommand[];
  /** Command line only (--help, --ini): neither an ini key nor an environment variable. */
  cliOnly?: boolean;
  /** The master passes it on to each worker process it forks (see toArgv). */
  toWorkers?: boolean;
  /** Also the command's first positional argument (APP). */
  positional?: boolean;
  /** How PORTICO_NAME lists a repeatable option's values: ',' unless values may hold commas (a cron command). */
  envSeparator?: string;
  /** A setting of the HTTP front: the gateway's, and each worker's under --http-socket (the master passes it on then). */
  front?: boolean;
}

const W = ['worker'] as const;
const WS = ['worker', 'serve'] as const;
const SG = ['serve', 'gateway'] as const;
const ALL = ['worker', 'serve', 'gateway'] as const;
/** The HTTP front's settings: the gateway's (serve, gateway), and a worker's own front under --http-socket. */
const FRONT = { commands: ALL, front: true } as const;

/*
 * Every server option, defined once: the CLI parser, the ini reader, the environment reader,
 * --help and docs/options.md all read this table. Names follow uWSGI where it has one; gunicorn's
 * names are aliases. Values stay strings as on the command line; the commands validate them.
 */
export const SCHEMA = {
  module: {
    type: 'string',
    arg: 'PATH[:EXPORT]',
    positional: true,
    aliases: ['wsgi-file', 'wsgi'],
    commands: WS,
    help: 'the app: path/to/module.{js,mjs,cjs}[:exportName] (also the first argument, APP)',
  },
  chdir: { type: 'string', arg: 'DIR', commands: ALL, help: 'change to DIR before loading the app and binding sockets (relative paths count from there)' },
  socket: {
    type: 'string',
    short: 's',
    arg: 'PATH|HOST:PORT',
    aliases: ['uwsgi-socket'],
    commands: W,
    help: 'uwsgi socket to serve: a unix path (at most 107 bytes), or HOST:PORT for TCP (:PORT or a bare PORT is every interface; a path of digits is unix:1234 or ./1234)',
  },
  'http-socket': {
    type: 'string',
    arg: 'HOST:PORT|unix:PATH',
    commands: W,
    help: "serve HTTP on this socket instead of uwsgi: each worker parses HTTP and runs the app in its own process, with no gateway between (uWSGI's --http-socket, gunicorn's way; the HTTP front's options apply: --static, --gateway-plugin, the limits and timeouts)",
  },
  http: { type: 'string', arg: 'HOST:PORT|unix:PATH', commands: SG, help: 'where the gateway listens for HTTP (:PORT or a bare PORT is every interface; a unix path at most 107 bytes)' },
  // Worker-process settings: the master hands them to every worker it forks.
  kind: { type: 'string', arg: 'fetch|wsgi|node', commands: WS, toWorkers: true, help: 'force the kind of app instead of detecting it' },
  'buffer-size': { type: 'string', short: 'b', arg: 'BYTES', default: String(defaults.bufferSize), commands: WS, toWorkers: true, help: 'largest uwsgi vars block accepted (at most 65535)' },
  listen: {
    type: 'string',
    short: 'l',
    arg: 'N',
    default: String(defaults.listen),
    commands: ALL,
    toWorkers: true,
    help: "socket listen backlog; the gateway's: requests that may wait for a free upstream, past it 503 + Retry-After",
  },
  'accept-busy': {
    type: 'string',
    arg: 'N',
    default: '0',
    commands: W,
    toWorkers: true,
    help: "on the shared socket of --processes workers: a worker with N connections not yet answered stops accepting until it has fewer, so an idler one takes the next (an accept rule like uWSGI's --thunder-lock; 0: off)",
  },
  'chmod-socket': { type: 'string', arg: 'MODE', commands: WS, toWorkers: true, help: 'mode of the unix socket file, e.g. 666 or 660, at most 777 (nginx must be able to connect)' },
  'allow-from': { type: 'string', multiple: true, arg: 'ADDR', commands: WS, toWorkers: true, help: `peer address a TCP socket accepts (repeatable; default ${defaults.allowFrom.join(', ')})` },
  vacuum: { type: 'boolean', default: true, commands: WS, toWorkers: true, help: 'remove the socket file on exit (--no-vacuum to keep it)' },
  'chunked-input-timeout': {
    type: 'string',
    arg: 'SECONDS',
    default: String(defaults.chunkedInputTimeout),
    commands: WS,
    toWorkers: true,
    help: "how long a chunked request body (uWSGI's HTTP router: no CONTENT_LENGTH) may take to start; then 411, and the log says to run the router with --http-raw-body",
  },
  'graceful-timeout': { type: 'string', arg: 'SECONDS', default: String(defaults.gracefulTimeout), commands: WS, toWorkers: true, help: 'time in-flight requests get to finish on SIGTERM' },
  'disable-logging': { type: 'boolean', default: false, commands: WS, toWorkers: true, help: 'no per-request log line' },
  'log-format': {
    type: 'string',
    arg: 'text|json|TEMPLATE',
    default: 'text',
    aliases: ['logformat'],
    commands: ALL,
    toWorkers: true,
    help: "uWSGI's request line, one pino JSON object per line, or uWSGI's logformat template of %(name) variables ('%(addr) - %(user) [%(ltime)] \"%(method) %(uri) %(proto)\" %(status) %(size)')",
  },
  logto: { type: 'string', arg: 'FILE', commands: ALL, toWorkers: true, help: "log to FILE instead of stderr, with what the master's workers print to stdout/stderr (reopened on SIGUSR1)" },
  logger: {
    type: 'string',
    multiple: true,
    arg: 'file:PATH',
    commands: ALL,
    toWorkers: true,
    envSeparator: '\n',
    help: "uWSGI's logger: everything but request lines goes to PATH (request lines too without --req-logger); file:logfile=PATH,maxsize=BYTES gives the file its own rotation size; other uWSGI logger plugins are refused",
  },
  'req-logger': {
    type: 'string',
    multiple: true,
    arg: 'file:PATH',
    commands: ALL,
    toWorkers: true,
    envSeparator: '\n',
    help: "uWSGI's req-logger: request lines (the workers' and the gateway's access lines) go to PATH and nowhere else; file:logfile=PATH,maxsize=BYTES as for --logger",
  },
  'log-maxsize': {
    type: 'string',
    arg: 'BYTES',
    commands: ALL,
    help: "once a log file (--logto, --logger file:, --req-logger file:) passes BYTES, it is renamed FILE.UNIXTIME and every process reopens FILE (uWSGI's log-maxsize, applied to each file; checked each second)",
  },
  otel: {
    type: 'boolean',
    default: false,
    commands: ALL,
    toWorkers: true,
    help: 'OpenTelemetry traces: spans for each request (gateway receive, queue wait, link, app) sent as OTLP over HTTP to OTEL_EXPORTER_OTLP_ENDPOINT (default http://localhost:4318); the standard OTEL_* variables apply and also turn it on (docs/tracing.md)',
  },
  'native-response': { type: 'boolean', default: false, commands: WS, toWorkers: true, help: "keep Node's own Response class (no fast path for string/byte bodies)" },
  // The master.
  master: { type: 'boolean', default: true, commands: WS, help: 'run a master that supervises the worker processes (--no-master: one process, no guards)' },
  processes: {
    type: 'string',
    short: 'p',
    arg: 'N',
    default: String(defaults.processes),
    defaultText: '2 x cores + 1',
    aliases: [{ name: 'workers', short: 'w' }],
    commands: WS,
    help: 'worker processes, 1 to 1024 (2 x cores + 1 by default, as gunicorn recommends)',
  },
  harakiri: { type: 'string', arg: 'SECONDS', default: '0', aliases: ['timeout'], commands: WS, help: 'kill and replace a worker whose request runs longer (0: never)' },
  'harakiri-graceful-timeout': { type: 'string', arg: 'SECONDS', default: String(defaults.harakiriGracefulTimeout), commands: WS, help: "after harakiri's SIGTERM, SIGKILL once this has passed" },
  'log-slow': {
    type: 'string',
    arg: 'SECONDS',
    default: '0',
    commands: WS,
    help: "log a request that runs longer, with the app's stack sampled once as it passes SECONDS, and again when it ends (0: never)",
  },
  'max-requests': { type: 'string', arg: 'N', default: '0', commands: WS, help: 'recycle a worker after N requests (0: never)' },
  'max-requests-jitter': { type: 'string', arg: 'N', default: '0', aliases: ['max-requests-delta'], commands: WS, help: "add 0..N to each worker's --max-requests so they do not all recycle at once" },
  'reload-on-rss': { type: 'string', arg: 'MB', default: '0', commands: WS, help: 'recycle a worker whose RSS grows past MB (0: never)' },
  'min-worker-lifetime': { type: 'string', arg: 'SECONDS', default: String(defaults.minWorkerLifetime), commands: WS, help: 'a worker that dies younger counts towards the respawn backoff' },
  'touch-reload': { type: 'string', arg: 'FILE', commands: WS, help: "chain-reload the workers when FILE's mtime changes" },
  reload: {
    type: 'boolean',
    default: false,
    aliases: ['watch'],
    commands: WS,
    help: "development: chain-reload the workers when a file of the app's own module graph (not node_modules) changes; a broken edit keeps the old code serving",
  },
  pidfile: {
    type: 'string',
    arg: 'FILE',
    commands: WS,
    help: "write the master's pid to FILE before dropping privileges (removed at exit; refused while the pid in it runs, a stale one is replaced)",
  },
  pidfile2: { type: 'string', arg: 'FILE', commands: WS, help: "write the master's pid to FILE after dropping privileges (--uid), as that user (removed at exit)" },
  uid: { type: 'string', arg: 'USER|UID', commands: WS, help: 'drop to this user after binding, with its groups (when started as root; an unknown name is refused)' },
  gid: { type: 'string', arg: 'GROUP|GID', commands: WS, help: "drop to this group after binding (when started as root; default --uid's group)" },
  stats: {
    type: 'string',
    arg: 'PATH|HOST:PORT',
    commands: WS,
    help: 'stats server: JSON about the master and each worker on every connection (portico top); a bare port (PORT or :PORT) binds 127.0.0.1 only, give 0.0.0.0:PORT to expose it',
  },
  'stats-hide-query': { type: 'boolean', default: false, commands: WS, help: "the stats server shows each running request's path without its query string (which may carry tokens)" },
  metrics: {
    type: 'string',
    arg: 'HOST:PORT',
    commands: WS,
    help: 'HTTP server: /metrics (Prometheus text, all workers and the gateway), /healthz, /readyz (:PORT or a bare PORT is every interface)',
  },
  cron: {
    type: 'string',
    multiple: true,
    arg: "'MIN HOUR DAY MONTH WEEKDAY COMMAND'",
    commands: WS,
    envSeparator: '\n',
    help: 'the master runs COMMAND with /bin/sh -c at those times (-1 or * any, -N every N; repeatable)',
  },
  'cron-app': {
    type: 'string',
    multiple: true,
    arg: "'MIN HOUR DAY MONTH WEEKDAY MODULE:EXPORT'",
    commands: WS,
    envSeparator: '\n',
    help: 'call an exported function in a fresh node child at those times (repeatable)',
  },
  cheap: { type: 'boolean', default: false, commands: WS, help: 'start no worker until the first request arrives (it waits, it is not refused)' },
  cheaper: { type: 'string', arg: 'N', default: '0', commands: WS, help: 'adaptive pool: at least N workers, at most --processes (0: a fixed pool)' },
  'cheaper-initial': { type: 'string', arg: 'N', commands: WS, help: 'workers at start with --cheaper (default: --cheaper)' },
  'cheaper-step': { type: 'string', arg: 'N', default: '1', commands: WS, help: 'workers added at once when all are busy' },
  'cheaper-overload': { type: 'string', arg: 'SECONDS', default: '3', commands: WS, help: 'add workers once all are busy (or requests wait) this long' },
  'cheaper-idle': { type: 'string', arg: 'SECONDS', default: '10', commands: WS, help: 'stop a worker idle this long (never below --cheaper)' },
  'cheaper-rss-limit-soft': { type: 'string', arg: 'MB', default: '0', commands: WS, help: "no new worker while the workers' total RSS is over MB (0: no limit)" },
  'cheaper-rss-limit-hard': { type: 'string', arg: 'MB', default: '0', commands: WS, help: "stop a worker while the workers' total RSS is over MB (0: no limit)" },
  // The gateway.
  upstream: {
    type: 'string',
    multiple: true,
    arg: 'uwsgi://unix:PATH|portico://unix:PATH|...HOST:PORT',
    commands: ['gateway'],
    help: 'a worker socket to forward to (repeatable); portico:// uses the native link',
  },
  'gateway-plugin': {
    type: 'string',
    multiple: true,
    arg: 'FILE',
    ...FRONT,
    help: 'a module whose default export is a fastify plugin, registered in front of the forwarding route (repeatable): @fastify/compress, @fastify/cors, @fastify/rate-limit, an auth hook... then apply to forwarded requests, which all go through fastify (docs/gateway.md)',
  },
  static: { type: 'string', multiple: true, arg: '/prefix=DIR', aliases: ['static-map'], ...FRONT, help: "serve DIR's files under /prefix (repeatable; uWSGI's static-map)" },
  'trusted-proxies': {
    type: 'string',
    multiple: true,
    arg: 'CIDR|unix',
    ...FRONT,
    help: `peers whose X-Forwarded-For/-Proto are believed (repeatable; default ${defaults.trustedProxies.join(', ')})`,
  },
  'upstream-timeout': {
    type: 'string',
    arg: 'SECONDS',
    default: String(defaults.upstreamTimeout),
    aliases: ['http-timeout'],
    commands: SG,
    help: "wait this long for a worker's response head, then 504",
  },
  'upstream-concurrency': {
    type: 'string',
    arg: 'N',
    default: String(defaults.upstreamConcurrency),
    commands: SG,
    help: 'requests in flight to each upstream at most; more wait in the --listen queue',
  },
  'upstream-links': {
    type: 'string',
    arg: 'N',
    default: String(defaults.upstreamLinks),
    defaultText: '2 x cores + 1',
    commands: ['gateway'],
    help: "native links (many requests each) to each portico:// upstream at most; a master's workers sharing one socket each take whole links, so about one per worker",
  },
  'body-limit': {
    type: 'string',
    arg: 'BYTES',
    default: String(defaults.bodyLimit),
    aliases: ['limit-post'],
    ...FRONT,
    help: 'largest request body: a larger Content-Length gets 413, a chunked body past it closes the connection',
  },
  'limit-request-line': { type: 'string', arg: 'BYTES', default: String(defaults.limitRequestLine), ...FRONT, help: "longest request line (414 past it; gunicorn's name)" },
  'limit-request-fields': { type: 'string', arg: 'N', default: String(defaults.limitRequestFields), ...FRONT, help: 'most header fields in a request (431 past it)' },
  'limit-request-field-size': { type: 'string', arg: 'BYTES', default: String(defaults.limitRequestFieldSize), ...FRONT, help: 'largest header field, name: value CRLF (431 past it)' },
  'headers-timeout': {
    type: 'string',
    arg: 'SECONDS',
    default: String(defaults.headersTimeout),
    ...FRONT,
    help: 'time for a request line and headers to arrive (408 past it: slowloris; a connection that sent nothing is just closed)',
  },
  'request-timeout': { type: 'string', arg: 'SECONDS', default: String(defaults.requestTimeout), ...FRONT, help: 'time for a whole request, body included, to arrive (408 or close past it)' },
  'keepalive-timeout': {
    type: 'string',
    arg: 'SECONDS',
    default: String(defaults.gatewayKeepAliveTimeoutMs / 1000),
    aliases: ['keep-alive'],
    ...FRONT,
    help: "a keep-alive connection idle this long between requests is closed (nginx's keepalive_timeout)",
  },
  'max-connections': {
    type: 'string',
    arg: 'N',
    default: String(defaults.maxConnections),
    ...FRONT,
    help: 'open client connections at most; past it the one idle longest is closed to make room, or the new one when all are busy',
  },
  'gateway-processes': {
    type: 'string',
    arg: 'N',
    default: '0',
    commands: ['serve'],
    help: 'run the gateway in N processes of its own (2 to 64) that accept from one shared HTTP socket and each link to every worker, supervised by the master like the workers; 0 or 1: the gateway runs in the master process (docs/scaling.md)',
  },
  link: {
    type: 'string',
    arg: 'native|uwsgi',
    default: defaults.serveLink,
    commands: ['serve'],
    help: 'how the gateway talks to the workers: uwsgi packets, one connection per request, or the keep-alive native link',
  },
  // The command line itself.
  ini: { type: 'string', arg: 'FILE', cliOnly: true, commands: ALL, help: 'read options from the [portico] or [uwsgi] section of FILE (command line and PORTICO_* override it)' },
  help: { type: 'boolean', short: 'h', cliOnly: true, commands: ALL, help: 'show this help' },
} as const satisfies Record<string, OptionSpec>;

/**
 * uWSGI keys an ini file may carry that mean nothing to portico: accepted with a warning saying
 * why, so a uWSGI ini runs unchanged. (Keys neither here nor in SCHEMA are errors.)
 */
export const UWSGI_IGNORED: Record<string, string> = {
  home: "a Python virtualenv; Node finds the app's packages in node_modules next to it",
  virtualenv: "a Python virtualenv; Node finds the app's packages in node_modules next to it",
  venv: "a Python virtualenv; Node finds the app's packages in node_modules next to it",
  pythonpath: "Python's import path; Node resolves imports from the app's own directory",
  'enable-threads': "Python's GIL switch; a Node worker is one event loop, and worker_threads need no switch",
  'log-reopen': 'portico reopens its log files (--logto, --logger, --req-logger) on SIGUSR1 (logrotate postrotate: kill -USR1 the master)',
  'log-master': "portico's master always collects what the workers print when there is a log file (--logto or --logger), line by line",
  'die-on-term': 'portico always stops gracefully on SIGTERM',
  'thunder-lock': 'the shared socket is accepted by each worker on its own event loop; nothing to serialise',
  'single-interpreter': 'each worker is one Node process with one app',
  'lazy-apps': 'each worker is a fresh process that loads the app itself, which is what lazy-apps does',
  'need-app': 'a worker whose app fails to load always exits with PORTICO_ERR_APP_LOAD',
  plugin: 'no plugins: the app is a Node module',
  plugins: 'no plugins: the app is a Node module',
  'py-autoreload': 'Python module reloading; portico has --reload for its own apps',
};

type OptionName = keyof typeof SCHEMA;
type Spec<K extends OptionName> = (typeof SCHEMA)[K];
type ValueOf<S> = S extends { type: 'boolean' } ? boolean : S extends { multiple: true } ? string[] : string;
type Takes<S, C> = S extends { commands: readonly (infer X)[] } ? (C extends X ? true : false) : false;
/** The values a command gets, typed as parseArgs would type them. */
export type ValuesFor<C extends ServerCommand> = { [K in OptionName as Takes<Spec<K>, C> extends true ? K : never]?: ValueOf<Spec<K>> };

function pick(keep: (s: OptionSpec) => boolean): Record<string, OptionSpec> {
  return Object.fromEntries(Object.entries(SCHEMA as Record<string, OptionSpec>).filter(([, s]) => keep(s)));
}

/** The options a server command takes (its parseArgs table, its --help). */
export function optionsFor(cmd: ServerCommand): Record<string, OptionSpec> {
  return pick((s) => s.commands?.includes(cmd) ?? false);
}

/** Options of the worker process that the master passes on to the workers it forks. */
export const workerOptionsBase = pick((s) => s.toWorkers === true);
/** What the master also passes to each worker under --http-socket. */
export const frontOptions = pick((s) => s.front === true);
export const workerOptions = optionsFor('worker');
export const gatewayOptions = optionsFor('gateway');
export const serveOptions = optionsFor('serve');

/** The aliases' names of a spec. */
export function aliasNames(spec: OptionSpec): string[] {
  return (spec.aliases ?? []).map((a) => (typeof a === 'string' ? a : a.name));
}

/** PORTICO_ + the upper snake name: PORTICO_HARAKIRI, PORTICO_CHMOD_SOCKET. */
export function envName(name: string): string {
  return `PORTICO_${name.toUpperCase().replace(/-/g, '_')}`;
}

/*
 * The client commands keep their own tables: `timeout` means a client deadline to `portico request`
 * but is --harakiri's alias to the master, so they would clash in one namespace. They read the
 * command line only, never an ini file or PORTICO_* variables.
 */
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

/** Turns parsed values back into flags, for the options named in `specs` (how the master starts workers). */
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

/** The default as help and the docs show it. */
export function defaultText(spec: OptionSpec): string | undefined {
  if (spec.defaultText !== undefined) return spec.defaultText;
  if (spec.default === undefined) return undefined;
  return typeof spec.default === 'boolean' ? String(spec.default) : spec.default;
}

function flagText(name: string, short: string | undefined, arg: string | undefined): string {
  return `${short ? `-${short}, ` : '    '}--${name}${arg ? ` ${arg}` : ''}`;
}

/** Usage, then every option with its aliases and default; `footer` says where else options come from. */
export function formatHelp(usage: string, options: Record<string, OptionSpec>, footer?: string): string {
  const rows: string[] = [];
  for (const [name, o] of Object.entries(options)) {
    const def = defaultText(o);
    const machine = o.defaultText !== undefined && o.default !== undefined ? `${o.default} here: ` : '';
    rows.push(`  ${flagText(name, o.short, o.arg).padEnd(36)} ${o.help}${def !== undefined ? ` (default ${machine}${def})` : ''}`);
    for (const a of o.aliases ?? []) {
      const [alias, short] = typeof a === 'string' ? [a, undefined] : [a.name, a.short];
      rows.push(`  ${flagText(alias, short, o.arg).padEnd(36)} alias of --${name}`);
    }
  }
  return `${usage}\n\nOptions:\n${rows.join('\n')}\n${footer ? `\n${footer}\n` : ''}`;
}

export const CONFIG_FOOTER =
  'Every option but --ini and --help is also an ini key ([portico] or [uwsgi] section) and a\n' +
  'PORTICO_NAME environment variable (PORTICO_HARAKIRI=30); precedence: default < ini < environment <\n' +
  'command line. `portico config --ini FILE` shows the result and where each value came from.';
