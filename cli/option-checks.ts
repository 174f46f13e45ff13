import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { PorticoError } from '../common/errors.js';
import type { OptionValues } from '../config/option-schema.js';
import type { SocketAddress } from '../protocol/socket-address.js';
import { UNIX_PATH_MAX } from '../worker/socket-listener.js';

/*
 * Checks of the options that name places (addresses, files, users), run before anything is bound
 * or written: a bad value stops the start with one PORTICO_ERR_INVALID_OPTION line, and nothing is
 * left behind. Numbers are checked where they are read (cli-values.ts, master-values.ts).
 */

function invalid(message: string): PorticoError {
  return new PorticoError('PORTICO_ERR_INVALID_OPTION', message);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

export interface AddressRules {
  /** A unix socket path is allowed (else only HOST:PORT). */
  unix: boolean;
  /**
   * The host a bare port (`PORT` or `:PORT`) binds. Unset: every interface, as `:PORT` is with
   * uWSGI and gunicorn. --stats sets 127.0.0.1.
   */
  barePortHost?: string;
}

/**
 * A listen address as `--socket`, `--http`, `--stats` and `--metrics` take it: `unix:PATH`, a path,
 * `HOST:PORT`, `:PORT`, `PORT` or `[v6]:PORT`. A bare number is the port `:PORT` names: uWSGI
 * would make it a unix socket file and gunicorn a host name, neither what the number's writer
 * meant (a path of digits is `unix:1234` or `./1234`). Refuses what would bind somewhere other than
 * asked: a port outside 0-65535, a host that is not an IP address, something with a colon that is
 * neither (`x:y`), and a unix path the kernel would cut short or whose directory does not exist.
 */
export function listenAddressOption(flag: string, spec: string, rules: AddressRules): SocketAddress {
  const wants = rules.unix ? 'a unix socket path or HOST:PORT' : 'HOST:PORT';
  if (spec.startsWith('unix:')) return unixAddress(flag, spec.slice(5), rules);
  if (/^\d+$/.test(spec)) return tcpAddress(flag, spec, '', spec, rules.barePortHost);
  if (!spec.includes('/') && spec.includes(':')) {
    const m = /^\[([^\]]*)\]:([^:]*)$/.exec(spec) ?? /^([^:[\]]*):([^:]*)$/.exec(spec);
    if (!m) throw invalid(`--${flag} ${spec}: not ${wants} (an IPv6 address goes in brackets: [::1]:PORT)`);
    return tcpAddress(flag, spec, m[1]!, m[2]!, rules.barePortHost);
  }
  return unixAddress(flag, spec, rules);
}

function tcpAddress(flag: string, spec: string, host: string, port: string, barePortHost?: string): SocketAddress {
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) throw invalid(`--${flag} ${spec}: the port must be a number from 0 to 65535`);
  const h = host === '' ? (barePortHost ?? '0.0.0.0') : host === 'localhost' ? '127.0.0.1' : host;
  if (isIP(h) === 0) throw invalid(`--${flag} ${spec}: ${host} is not an IP address (host names are not looked up: give 127.0.0.1, 0.0.0.0 or [::1])`);
  return { kind: 'tcp', host: h, port: Number(port) };
}

function unixAddress(flag: string, path: string, rules: AddressRules): SocketAddress {
  if (!rules.unix) throw invalid(`--${flag} ${path}: not HOST:PORT (e.g. 127.0.0.1:9191)`);
  if (path === '') throw invalid(`--${flag}: empty socket path`);
  unixPathOption(flag, path);
  return { kind: 'unix', path };
}

/** A unix socket path the kernel takes whole, in a directory that exists. */
function unixPathOption(flag: string, path: string): void {
  const bytes = Buffer.byteLength(path);
  if (bytes > UNIX_PATH_MAX) {
    throw invalid(`--${flag} ${path}: ${bytes} bytes, longer than the ${UNIX_PATH_MAX} a unix socket path can have: choose a shorter path (e.g. under /run)`);
  }
  const dir = dirname(resolve(path));
  if (!isDirectory(dir)) throw invalid(`--${flag} ${path}: directory ${dir} does not exist: create it first, or choose another path`);
}

/** A file portico writes (--logto, --pidfile): its directory must exist, and it must not be one. */
export function fileOption(flag: string, path: string): void {
  const full = resolve(path);
  const dir = dirname(full);
  if (!isDirectory(dir)) throw invalid(`--${flag} ${path}: directory ${dir} does not exist: create it first (mkdir -p), or choose another path`);
  if (isDirectory(full)) throw invalid(`--${flag} ${path} is a directory: give a file name`);
}

/** `--upstream uwsgi://unix:PATH`, `portico://HOST:PORT`: the scheme says the link, the rest the socket. */
export function upstreamOption(spec: string): void {
  const m = /^(uwsgi|portico):\/\/(.*)$/.exec(spec);
  if (!m) throw invalid(`--upstream ${spec}: give uwsgi://unix:PATH, uwsgi://HOST:PORT, portico://unix:PATH or portico://HOST:PORT`);
  const rest = m[2]!;
  if (!rest.startsWith('unix:') && !rest.includes('/') && !rest.includes(':')) {
    // A bare port binds every interface, but an upstream is connected to: say which host.
    const hint = /^\d+$/.test(rest) ? ` (a port on this machine: ${m[1]}://127.0.0.1:${rest})` : '';
    throw invalid(`--upstream ${spec}: ${JSON.stringify(rest)} is neither unix:PATH nor HOST:PORT${hint}`);
  }
  // The same rules as a listen address, but the socket need not exist yet (a worker may start later).
  if (rest.startsWith('unix:') || rest.includes('/')) {
    const path = rest.startsWith('unix:') ? rest.slice(5) : rest;
    const bytes = Buffer.byteLength(path);
    if (path === '' || bytes > UNIX_PATH_MAX) throw invalid(`--upstream ${spec}: a unix socket path of 1 to ${UNIX_PATH_MAX} bytes, got ${bytes}`);
    return;
  }
  listenAddressOption('upstream', rest, { unix: false });
}

export interface Privileges {
  /** The user to become (its name or number as given, for initgroups) and its uid. */
  user?: { name: string; uid: number };
  gid?: number;
}

/**
 * --uid / --gid as numbers, resolved the way the system does (NSS, through id(1) and getent(1)):
 * a name that does not exist is refused at start, --gid alone as much as --uid.
 */
export function privilegeOptions(values: OptionValues): Privileges {
  const uid = values.uid as string | undefined;
  const gid = values.gid as string | undefined;
  const out: Privileges = {};
  if (uid !== undefined) out.user = { name: uid, uid: lookUp('uid', uid, () => execFileSync('id', ['-u', uid], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) };
  if (gid !== undefined) out.gid = lookUp('gid', gid, () => execFileSync('getent', ['group', gid], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split(':')[2]!);
  else if (uid !== undefined) out.gid = lookUp('uid', uid, () => execFileSync('id', ['-g', uid], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  return out;
}

function lookUp(flag: 'uid' | 'gid', value: string, query: () => string): number {
  if (/^\d+$/.test(value)) return Number(value);
  let id: number;
  try {
    id = Number(query().trim());
  } catch {
    id = NaN;
  }
  if (!Number.isInteger(id) || id < 0) throw invalid(`--${flag} ${value}: no such ${flag === 'gid' ? 'group' : 'user'}`);
  return id;
}
