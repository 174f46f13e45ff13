import { createRequire } from 'node:module';
import type pino from 'pino';
import { compileLogFormat } from './log-format.js';

// pino itself (about 7 MB of a process's memory) is loaded only for --log-format json; every
// format writes through sonic-boom, pino's destination. Our own copy, 5.x: 4.x (pino's) loops for
// ever in flushSync on a write error it does not retry (EPIPE: stderr piped into a reader that
// exited), which froze a master's SIGTERM handler.
const require = createRequire(import.meta.url);
const SonicBoom = require('sonic-boom') as new (options: DestinationOptions) => Destination;

/** `text` (uWSGI's line), `json` (pino), or a uWSGI logformat template with %(name) variables. */
export type LogFormat = string;

export interface RequestRecord {
  pid: number;
  workerRequests: number;
  totalRequests: number;
  remoteAddr: string;
  remoteUser: string;
  varsCount: number;
  varsBytes: number;
  startedAt: number;
  method: string;
  uri: string;
  bodyBytes: number;
  durationMs: number;
  protocol: string;
  status: number;
  headersCount: number;
  headersBytes: number;
  /** Writes of the response to its link: what uWSGI's line calls switches (on core 0: one event loop). */
  switches: number;
  /** The worker's id under a master (uWSGI's wid); 0 alone. */
  workerId: number;
  /** The request's uwsgi vars, for a --log-format template's %(host), %(referer), %(var.NAME)... */
  vars?: { get(name: string): string | undefined };
  aborted: boolean;
}

/** How long a request line may wait in the buffer before it is written anyway. */
const REQUEST_FLUSH_MS = 100;

/** What portico uses of a sonic-boom destination. */
interface Destination extends NodeJS.EventEmitter {
  write(data: string): boolean;
  flushSync(): void;
  reopen(file?: string | number): void;
}

interface DestinationOptions {
  dest: string | number;
  sync: boolean;
  minLength: number;
  mkdir: boolean;
}

/** Every destination still open: what they hold is written at the process's exit (as pino does). */
const open = new Set<Destination>();
process.on('exit', () => {
  for (const d of open) flushQuietly(d);
});

function flushQuietly(d: Destination): void {
  try {
    d.flushSync();
  } catch (err) {
    // Nothing buffered, or the destination is gone: nothing more can be done, and after EPIPE
    // nothing more is tried.
    if ((err as NodeJS.ErrnoException).code === 'EPIPE') silence(d);
  }
}

/** A destination that can no longer be written: what comes is dropped. */
function silence(d: Destination): void {
  d.write = () => true;
  d.flushSync = noop;
  open.delete(d);
}

function noop(): void {}

/** A buffered async file (or stderr) destination. */
function destination(file: string | undefined): Destination {
  const dest = new SonicBoom({ dest: file ?? 2, sync: false, minLength: 4096, mkdir: true });
  open.add(dest);
  dest.on('close', () => open.delete(dest));
  // A log that can no longer be written (stderr piped into a reader that exited: EPIPE) must
  // never take the server down, nor keep a signal handler from stopping it; after EPIPE nothing
  // more is written (pino's destination does the same).
  dest.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') silence(dest);
  });
  // A line logged before the file is open cannot be flushed then (the gateway's "http on" line,
  // logged at once): it goes out as soon as the file is open, not with the next 4 KiB.
  dest.once('ready', () => flushQuietly(dest));
  return dest;
}

/**
 * Event and request logging. Text lines go out in uWSGI's shapes so people's grep habits carry
 * over; `json` writes one pino object per line. Both use one buffered async destination
 * (sonic-boom) because a synchronous stderr write per request costs more than the request itself.
 */
export class Logger {
  private readonly dest: Destination;
  /** Request and access lines: their own file with a req-logger, else `dest`. */
  private readonly requestDest: Destination;
  private readonly json: pino.Logger | null;
  private readonly requestJson: pino.Logger | null;
  private readonly requestsEnabled: boolean;
  private cachedSecond = 0;
  private cachedDate = '';
  private flushTimer: NodeJS.Timeout | null = null;
  private readonly template: ((r: RequestRecord) => string) | null;

  /** `file`: the main log (stderr when unset); `requestFile`: request lines only (uWSGI's req-logger). */
  constructor(options: { format?: LogFormat; file?: string; requestFile?: string; disableRequests?: boolean } = {}) {
    this.dest = destination(options.file);
    this.requestDest = options.requestFile !== undefined ? destination(options.requestFile) : this.dest;
    const createPino = options.format === 'json' ? (require('pino') as typeof pino) : null;
    const jsonTo = (d: Destination): pino.Logger | null => (createPino ? createPino({ base: { pid: process.pid }, timestamp: createPino.stdTimeFunctions.isoTime }, d) : null);
    this.json = jsonTo(this.dest);
    this.requestJson = this.json && this.requestDest !== this.dest ? jsonTo(this.requestDest) : this.json;
    this.requestsEnabled = !options.disableRequests;
    this.template = options.format !== undefined && options.format !== 'text' && options.format !== 'json' ? compileLogFormat(options.format) : null;
  }

  // Events are rare and someone is waiting for them (a supervisor for the "on SOCKET" line, a
  // person for an error), so they go out at once; only request lines wait in the 4 KiB buffer
  // (for at most REQUEST_FLUSH_MS, see flushSoon).
  info(message: string, fields?: Record<string, unknown>): void {
    this.event('info', fields ?? {}, message);
  }

  warn(message: string, fields?: Record<string, unknown>): void {
    this.event('warn', fields ?? {}, message);
  }

  /** An error with its code first, so `grep PORTICO_ERR_` finds every failure. */
  error(code: string, message: string, fields?: Record<string, unknown>): void {
    this.event('error', { code, ...fields }, message, `${code}: ${message}`);
  }

  /** `line`: the text format's line, when it is not the message itself. */
  private event(level: 'info' | 'warn' | 'error', fields: object, message: string, line = message): void {
    if (this.json) this.json[level](fields, message);
    else this.dest.write(line + '\n');
    this.flush();
  }

  get logsRequests(): boolean {
    return this.requestsEnabled;
  }

  request(r: RequestRecord): void {
    if (!this.requestsEnabled) return;
    this.flushSoon();
    if (this.requestJson) {
      this.requestJson.info({ req: r }, 'request');
      return;
    }
    if (this.template) {
      this.requestDest.write(this.template(r) + '\n');
      return;
    }
    // uWSGI's line, field for field (test/integration/worker/request-log.test.ts holds it against real uWSGI's):
    // [pid: 1234|app: 0|req: 1/1] 127.0.0.1 () {32 vars in 337 bytes} [Sat Nov  7 22:30:00 2026] GET / => generated 11 bytes in 0 msecs (HTTP/1.1 200) 1 headers in 44 bytes (2 switches on core 0)
    this.requestDest.write(
      `[pid: ${r.pid}|app: 0|req: ${r.workerRequests}/${r.totalRequests}] ${r.remoteAddr} (${r.remoteUser}) ` +
        `{${r.varsCount} vars in ${r.varsBytes} bytes} [${this.ctime(r.startedAt)}] ${r.method} ${r.uri} => ` +
        `generated ${r.bodyBytes} bytes in ${Math.floor(r.durationMs)} msecs (${r.protocol} ${r.status}) ` +
        `${r.headersCount} headers in ${r.headersBytes} bytes (${r.switches} switches on core 0)${r.aborted ? ' (client aborted)' : ''}\n`,
    );
  }

  /**
   * A line a worker printed (the master collects their stdout/stderr), as it was. Written at once
   * like an event: the worker already paid a write for it, and a crash's stack must not wait in a
   * buffer the master may never flush.
   */
  output(line: string): void {
    this.event('info', { output: true }, line);
  }

  /** The gateway's access line (gateway/front/access-log.ts), buffered as request lines are. */
  access(line: string): void {
    if (!this.requestsEnabled) return;
    this.flushSoon();
    if (this.requestJson) this.requestJson.info({ access: line }, 'access');
    else this.requestDest.write(line + '\n');
  }

  /**
   * After logrotate moved the file: opens the path anew. The open is asynchronous and what is
   * written meanwhile still lands in the old file, so `message` is logged once the new one is open.
   */
  reopen(message?: string): void {
    if (this.requestDest !== this.dest) {
      this.requestDest.reopen();
      this.requestDest.once('ready', () => this.flush());
    }
    this.dest.reopen();
    this.dest.once('ready', () => {
      if (message) this.info(message);
      else this.flush();
    });
  }

  /**
   * Request lines wait in the buffer so a busy worker writes them in batches, but at most
   * REQUEST_FLUSH_MS: on a quiet worker the last lines would otherwise stay there until 4 KiB
   * more arrive, and `tail -f` (or a test awaiting the line) would never see them.
   */
  private flushSoon(): void {
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      this.flush();
    }, REQUEST_FLUSH_MS);
    // Never what keeps a stopping worker alive: stop() flushes what is left.
    this.flushTimer.unref();
  }

  flush(): void {
    flushQuietly(this.dest);
    if (this.requestDest !== this.dest) flushQuietly(this.requestDest);
  }

  /** ctime(3)-style date as uWSGI prints it, computed once per second. */
  private ctime(ms: number): string {
    const sec = Math.floor(ms / 1000);
    if (sec !== this.cachedSecond) {
      this.cachedSecond = sec;
      const d = new Date(sec * 1000).toString(); // "Sat Nov 21 2026 22:30:00 GMT+0000 (...)"
      const [wd, mon, day, year, time] = d.split(' ');
      // asctime's day of the month is space-padded: "Dec  6", not "Dec 06".
      this.cachedDate = `${wd} ${mon} ${day!.startsWith('0') ? ` ${day!.slice(1)}` : day} ${time} ${year}`;
    }
    return this.cachedDate;
  }
}
