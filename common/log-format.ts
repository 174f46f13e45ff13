import { PorticoError } from './errors.js';
import type { RequestRecord } from './logger.js';

/**
 * uWSGI's `logformat` (`--log-format '%(addr) - %(user) [%(ltime)] "%(method) %(uri) %(proto)"
 * %(status) %(size) "%(referer)" "%(uagent)"'`): the request line built from a template of
 * `%(name)` variables, with uWSGI's names and meanings, compiled once at start. `%(var.NAME)` is
 * any uwsgi var of the request (`%(var.HTTP_X_REQUEST_ID)`).
 */
const VARIABLES: Record<string, (r: RequestRecord) => string | number> = {
  uri: (r) => r.uri,
  method: (r) => r.method,
  user: (r) => r.remoteUser || '-',
  addr: (r) => r.remoteAddr,
  host: (r) => r.vars?.get('HTTP_HOST') ?? '',
  proto: (r) => r.protocol,
  status: (r) => r.status,
  referer: (r) => r.vars?.get('HTTP_REFERER') ?? '',
  uagent: (r) => r.vars?.get('HTTP_USER_AGENT') ?? '',
  time: (r) => Math.floor(r.startedAt / 1000),
  epoch: (r) => Math.floor(r.startedAt / 1000),
  ltime: (r) => new Date(r.startedAt).toUTCString(),
  msecs: (r) => Math.floor(r.durationMs),
  micros: (r) => Math.floor(r.durationMs * 1000),
  pid: (r) => r.pid,
  wid: (r) => r.workerId,
  switches: (r) => r.switches,
  vars: (r) => r.varsCount,
  pktsize: (r) => r.varsBytes,
  cl: (r) => r.vars?.get('CONTENT_LENGTH') || 0,
  size: (r) => r.bodyBytes,
  hsize: (r) => r.headersBytes,
  rsize: (r) => r.headersBytes + r.bodyBytes,
  headers: (r) => r.headersCount,
  core: () => 0,
};

export function compileLogFormat(template: string): (r: RequestRecord) => string {
  const parts: Array<string | ((r: RequestRecord) => string | number)> = [];
  const re = /%\(([\w.]+)\)/g;
  let at = 0;
  for (let m = re.exec(template); m !== null; m = re.exec(template)) {
    if (m.index > at) parts.push(template.slice(at, m.index));
    const name = m[1]!;
    if (name.startsWith('var.')) {
      const key = name.slice(4);
      parts.push((r) => r.vars?.get(key) ?? '');
    } else {
      const fn = VARIABLES[name];
      if (!fn) throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--log-format: unknown variable %(${name}); known: ${Object.keys(VARIABLES).join(', ')}, var.NAME`);
      parts.push(fn);
    }
    at = m.index + m[0].length;
  }
  if (at < template.length) parts.push(template.slice(at));
  return (r) => {
    let out = '';
    for (const p of parts) out += typeof p === 'string' ? p : String(p(r));
    return out;
  };
}
