import type { UwsgiVars } from '../../protocol/uwsgi/uwsgi-vars.js';

/**
 * HTTP request headers recovered from the CGI vars. nginx sends a repeated header as repeated
 * vars, uWSGI's router joins them with ", "; either way the app sees one header per name, joined
 * with ", " (and "; " for Cookie, RFC 9110 §5.3 / RFC 6265). CONTENT_TYPE and CONTENT_LENGTH are
 * the authority for those two; nginx's HTTP_CONTENT_* copies are skipped so they never double.
 * Returned flat: name (lower case), value, name, value...
 */
export function headersFromVars(vars: UwsgiVars): string[] {
  const f = vars.flat;
  const out: string[] = [];
  let index: Map<string, number> | null = null;
  for (let i = 0; i < f.length; i += 2) {
    const key = f[i]!;
    let name: string;
    if (key.charCodeAt(0) === 72 && key.startsWith('HTTP_')) {
      if (key === 'HTTP_CONTENT_TYPE' || key === 'HTTP_CONTENT_LENGTH') continue;
      name = key.slice(5).toLowerCase().replace(/_/g, '-');
    } else if (key === 'CONTENT_TYPE' || key === 'CONTENT_LENGTH') {
      if (f[i + 1] === '') continue;
      name = key === 'CONTENT_TYPE' ? 'content-type' : 'content-length';
    } else {
      continue;
    }
    index ??= new Map();
    const at = index.get(name);
    if (at === undefined) {
      index.set(name, out.length);
      out.push(name, f[i + 1]!);
    } else {
      out[at + 1] += (name === 'cookie' ? '; ' : ', ') + f[i + 1]!;
    }
  }
  return out;
}

/** The request URL an app sees: scheme and Host from the vars, path and query as the client sent them. */
export function urlFromVars(vars: UwsgiVars): string {
  const scheme = schemeFromVars(vars);
  let host = vars.get('HTTP_HOST');
  if (!host) {
    const name = vars.get('SERVER_NAME') || 'localhost';
    const port = vars.get('SERVER_PORT');
    host = port && port !== '80' && port !== '443' ? `${name}:${port}` : name;
  }
  let uri = vars.get('REQUEST_URI');
  if (uri === undefined) {
    const qs = vars.get('QUERY_STRING');
    uri = (vars.get('SCRIPT_NAME') ?? '') + (vars.get('PATH_INFO') ?? '/') + (qs ? `?${qs}` : '');
  }
  if (uri.charCodeAt(0) !== 47) uri = '/' + uri;
  return `${scheme}://${host}${uri}`;
}

/**
 * The scheme the client used, as nginx says it (REQUEST_SCHEME, or HTTPS on from
 * `include uwsgi_params`) and the gateway does (its trusted X-Forwarded-Proto): the URL a fetch
 * app sees, a WSGI app's url_scheme, and whether a node app's socket is `encrypted`.
 */
export function schemeFromVars(vars: UwsgiVars): 'http' | 'https' {
  const scheme = vars.get('REQUEST_SCHEME');
  if (scheme === 'https' || scheme === 'http') return scheme;
  const https = vars.get('HTTPS');
  return https === 'on' || https === '1' ? 'https' : 'http';
}
