import { UwsgiVars } from './uwsgi-vars.js';

export interface HttpRequestInfo {
  method: string;
  /** The raw request target as the client sent it: path and query, still percent-encoded. */
  uri: string;
  headers?: Iterable<readonly [string, string]>;
  /** The headers as Node's rawHeaders has them (name, value, name, value...): read without tuples. */
  rawHeaders?: readonly string[];
  protocol?: string;
  scheme?: 'http' | 'https';
  remoteAddr?: string;
  remotePort?: number | string;
  serverName?: string;
  serverPort?: number | string;
  /** Body length when known; sent as CONTENT_LENGTH (the only thing a uwsgi server trusts). */
  contentLength?: number;
  /** Headers the sender adds after rawHeaders (name, value, ...): the gateway's X-Request-Id, traceparent. */
  extraHeaders?: readonly string[];
}

/**
 * Builds the vars that nginx's stock `uwsgi_params` produce, in the same order, so a uwsgi server
 * sees the same environ from portico's client and gateway as from nginx. Header names with `_` are
 * dropped as nginx does (underscores_in_headers off), so `X_Forwarded_For` cannot pose as
 * `X-Forwarded-For` once both become HTTP_X_FORWARDED_FOR.
 */
export function buildRequestVars(req: HttpRequestInfo): UwsgiVars {
  const q = req.uri.indexOf('?');
  const rawPath = q === -1 ? req.uri : req.uri.slice(0, q);
  const query = q === -1 ? '' : req.uri.slice(q + 1);
  let contentType = '';
  let contentLength = req.contentLength === undefined ? '' : String(req.contentLength);
  const httpVars: string[] = [];
  const addHeader = (name: string, value: string): void => {
    const varName = httpVarName(name);
    if (varName === null) return;
    if (varName === 'HTTP_CONTENT_TYPE') contentType = value;
    else if (varName === 'HTTP_CONTENT_LENGTH' && req.contentLength === undefined) contentLength = value;
    httpVars.push(varName, value);
  };
  const raw = req.rawHeaders;
  if (raw) for (let i = 0; i + 1 < raw.length; i += 2) addHeader(raw[i]!, raw[i + 1]!);
  const extra = req.extraHeaders;
  if (extra) for (let i = 0; i + 1 < extra.length; i += 2) addHeader(extra[i]!, extra[i + 1]!);
  if (req.headers) for (const [name, value] of req.headers) addHeader(name, value);
  const flat = [
    'QUERY_STRING',
    query,
    'REQUEST_METHOD',
    req.method,
    'CONTENT_TYPE',
    contentType,
    'CONTENT_LENGTH',
    contentLength,
    'REQUEST_URI',
    req.uri,
    'PATH_INFO',
    decodePath(rawPath),
    'SERVER_PROTOCOL',
    req.protocol ?? 'HTTP/1.1',
    'REQUEST_SCHEME',
    req.scheme ?? 'http',
  ];
  if (req.scheme === 'https') flat.push('HTTPS', 'on');
  flat.push(
    'REMOTE_ADDR',
    req.remoteAddr ?? '',
    'REMOTE_PORT',
    req.remotePort === undefined ? '' : String(req.remotePort),
    'SERVER_PORT',
    req.serverPort === undefined ? '' : String(req.serverPort),
    'SERVER_NAME',
    req.serverName ?? '',
  );
  for (let i = 0; i < httpVars.length; i++) flat.push(httpVars[i]!);
  return new UwsgiVars(flat);
}

/**
 * Clients send the same few header names in the same spelling request after request: their
 * HTTP_* names are computed once (upper-cased, `-` to `_`). Bounded, so a client inventing names
 * cannot grow it. null: the name has an `_` and is dropped, as nginx does.
 */
const varNames = new Map<string, string | null>();
const VAR_NAMES_MAX = 1024;

function httpVarName(name: string): string | null {
  let v = varNames.get(name);
  if (v !== undefined) return v;
  v = name.includes('_') ? null : 'HTTP_' + name.toUpperCase().replace(/-/g, '_');
  if (varNames.size < VAR_NAMES_MAX) varNames.set(name, v);
  return v;
}

/** Percent-decodes a path as nginx does for $document_uri; a malformed escape is kept as sent. */
export function decodePath(path: string): string {
  if (!path.includes('%')) return path;
  try {
    return decodeURIComponent(path);
  } catch {
    return path.replace(/(%[0-9a-fA-F]{2})+/g, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run;
      }
    });
  }
}
