import { closeSync, constants, fchownSync, fstatSync, openSync } from 'node:fs';
import { PorticoError } from '../common/errors.js';
import type { OptionValues } from '../config/option-schema.js';
import { fileOption, type Privileges } from './option-checks.js';

/**
 * Where the logs go: uWSGI's `--logto FILE`, `--logger file:PATH` (everything but request lines)
 * and `--req-logger file:PATH` (request lines: the workers' and the gateway's access lines), with
 * `--log-maxsize` and the keyval form's own `maxsize=` for rotation. uWSGI's other logger plugins
 * (syslog, socket, rsyslog, zeromq...) are refused at start: a log silently going nowhere is
 * worse than a server that does not start.
 */
export interface LogFiles {
  /** Everything but request lines (stderr when unset). */
  main?: string;
  /** Request and access lines (the main log when unset). */
  requests?: string;
  /** Each file with the size past which it is rotated. */
  rotate: Array<{ file: string; maxBytes: number }>;
}

const FORMS = "portico writes files only: give file:PATH or file:logfile=PATH[,maxsize=BYTES] (uWSGI's logfile forms), or leave it out for stderr";

interface LoggerSpec {
  path: string;
  maxBytes?: number;
}

/** `file:PATH` or `file:logfile=PATH,maxsize=BYTES`, as uWSGI's logfile plugin reads them. */
function loggerOption(flag: 'logger' | 'req-logger', values: string[] | undefined): LoggerSpec | undefined {
  if (values === undefined || values.length === 0) return undefined;
  if (values.length > 1) {
    throw new PorticoError('PORTICO_ERR_UNSUPPORTED_LOGGER', `--${flag} given ${values.length} times (${values.join(', ')}): portico writes one file per log; keep one`);
  }
  const value = values[0]!;
  const refuse = (why: string): PorticoError => new PorticoError('PORTICO_ERR_UNSUPPORTED_LOGGER', `--${flag} ${value}: ${why}; ${FORMS}`);
  const colon = value.indexOf(':');
  const plugin = colon < 0 ? value : value.slice(0, colon);
  if (plugin !== 'file') throw refuse(plugin.includes('/') ? 'a path alone names no logger plugin (uWSGI refuses it too)' : `uWSGI's ${plugin} logger is not supported`);
  const arg = colon < 0 ? '' : value.slice(colon + 1);
  if (arg === '') throw refuse('no file named');
  let spec: LoggerSpec = { path: arg };
  // uWSGI reads the argument as a keyval list when it has an '=' (a path with one cannot be given).
  if (arg.includes('=')) {
    const kv = new Map<string, string>();
    for (const pair of arg.split(',')) {
      const eq = pair.indexOf('=');
      if (eq < 0) throw refuse(`"${pair}" is not key=value`);
      kv.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    const unknown = [...kv.keys()].filter((k) => k !== 'logfile' && k !== 'maxsize');
    if (unknown.length) throw refuse(`${unknown.join(', ')} not supported (rotated files are named PATH.UNIXTIME)`);
    const path = kv.get('logfile');
    if (!path) throw refuse('the keyval form needs logfile=PATH');
    spec = { path };
    const size = kv.get('maxsize');
    if (size !== undefined) spec.maxBytes = bytesOption(`--${flag} ${value}: maxsize`, size);
  }
  fileOption(flag, spec.path);
  return spec;
}

function bytesOption(what: string, value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1)) throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `${what} must be a number of bytes, at least 1, got ${JSON.stringify(value)}`);
  return n;
}

/** The log files of a command, checked before anything is bound or written. */
export function logFilesOption(values: OptionValues): LogFiles {
  const logto = values.logto as string | undefined;
  const logger = loggerOption('logger', values.logger as string[] | undefined);
  const requests = loggerOption('req-logger', values['req-logger'] as string[] | undefined);
  if (logto !== undefined) fileOption('logto', logto);
  if (logto !== undefined && logger) {
    throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--logto ${logto} and --logger ${logger.path} both name the main log: keep one`);
  }
  const main = logger?.path ?? logto;
  if (main !== undefined && requests && main === requests.path) {
    throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--req-logger names the main log file ${main}: leave --req-logger out to log requests there, or give another file`);
  }
  const maxsize = values['log-maxsize'] as string | undefined;
  const fallback = maxsize === undefined ? undefined : bytesOption('--log-maxsize', maxsize);
  if (fallback !== undefined && main === undefined && !requests) {
    throw new PorticoError('PORTICO_ERR_INVALID_OPTION', '--log-maxsize rotates log files: give --logto FILE, --logger file:PATH or --req-logger file:PATH too');
  }
  const rotate: LogFiles['rotate'] = [];
  const mainBytes = logger?.maxBytes ?? fallback;
  if (main !== undefined && mainBytes !== undefined) rotate.push({ file: main, maxBytes: mainBytes });
  const requestBytes = requests?.maxBytes ?? fallback;
  if (requests && requestBytes !== undefined) rotate.push({ file: requests.path, maxBytes: requestBytes });
  return { main, requests: requests?.path, rotate };
}

/**
 * Gives the log files to --uid's user (created now if missing) before privileges drop: every
 * process appends to them and reopens them after a rotation as that user, and uWSGI's files are
 * that user's too (it opens them after the drop). Through a descriptor opened without following
 * a symlink, so a link planted at the path never makes root chown what it points to; a symlinked
 * or special file (a --logto /dev/null) keeps its owner.
 */
export function giveLogFiles(logs: LogFiles, privileges: Privileges): void {
  if (process.getuid?.() !== 0 || (!privileges.user && privileges.gid === undefined)) return;
  for (const file of [logs.main, logs.requests]) {
    if (file === undefined) continue;
    let fd: number;
    try {
      fd = openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o644);
    } catch {
      continue;
    }
    try {
      if (fstatSync(fd).isFile()) fchownSync(fd, privileges.user?.uid ?? -1, privileges.gid ?? -1);
    } finally {
      closeSync(fd);
    }
  }
}
