import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fixturesDir, repoRoot } from '../../support/paths.js';

export const CORPUS_DIR = join(fixturesDir, 'corpora', 'gunicorn-requests');

export interface ExpectedRequest {
  method: string;
  uri: string;
  version: [number, number];
  headers: Array<[string, string]>;
  /** base64 */
  body: string;
}

export interface CorpusCase {
  /** `valid/001`, `invalid/chunked_03`, ... */
  name: string;
  kind: 'valid' | 'invalid';
  raw: Buffer;
  /** gunicorn settings the case runs under (cfg.set in its .py). */
  cfg: Record<string, unknown>;
  requests?: ExpectedRequest[];
  /** The exception gunicorn raises, for an invalid case. */
  error?: string;
}

/** The corpus, read by test/support/gunicorn-corpus.py (the .py expectations are Python). */
export function loadCorpus(): CorpusCase[] {
  const script = join(repoRoot, 'test', 'support', 'gunicorn-corpus.py');
  const out = execFileSync('/usr/bin/python3', [script, CORPUS_DIR], { maxBuffer: 64 * 1024 * 1024 });
  const cases = JSON.parse(out.toString('utf8')) as Array<Omit<CorpusCase, 'raw'> & { raw: string }>;
  return cases.map((c) => ({ ...c, raw: Buffer.from(c.raw, 'base64') }));
}

/** What an app behind the gateway sees of a request: the echo app's answer (test/fixtures/echo-app.mjs). */
export interface Echo {
  method: string;
  uri: string;
  path: string;
  query: string;
  protocol: string;
  headers: Array<[string, string]>;
  body: string;
}

/**
 * The HTTP_* vars a request's headers become on their way to the app, in order: a name with `_`
 * is dropped by the gateway (as nginx does, so `X_Forwarded_For` cannot pose as X-Forwarded-For),
 * a repeated name is joined with ", " ("; " for Cookie) by the worker, as uWSGI does.
 */
export function expectedVars(headers: Array<[string, string]>): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [name, value] of headers) {
    if (name.includes('_')) continue;
    const key = 'HTTP_' + name.toUpperCase().replace(/-/g, '_');
    const at = out.find(([k]) => k === key);
    if (at) at[1] += (key === 'HTTP_COOKIE' ? '; ' : ', ') + value;
    else out.push([key, value]);
  }
  return out;
}

/** The echo's HTTP_* vars only (CONTENT_* are the gateway's, not the client's). */
export function seenVars(echo: Echo): Array<[string, string]> {
  return withoutAddedRequestId(echo.headers).filter(([k]) => k.startsWith('HTTP_'));
}

/** The X-Request-Id the gateway adds to a request that came without one (a UUID): not what the client sent. */
const ADDED_REQUEST_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export function withoutAddedRequestId(vars: Array<[string, string]>): Array<[string, string]> {
  return vars.filter(([k, v]) => k !== 'HTTP_X_REQUEST_ID' || !ADDED_REQUEST_ID.test(v));
}

export const ADDED_HOST = 'gunicorn-corpus.test';

/**
 * The case with `Host: ADDED_HOST` after each request line, for HTTP/1.1 requests that have none
 * (RFC 9112 §3.2: a server must refuse those, and Node does), so the rest of the request is still
 * checked. Null when a request line cannot be found verbatim in the bytes.
 */
export function withHost(c: CorpusCase): { raw: Buffer; requests: ExpectedRequest[] } | null {
  const parts: Buffer[] = [];
  let from = 0;
  const requests: ExpectedRequest[] = [];
  for (const r of c.requests ?? []) {
    const line = Buffer.from(`${r.method} ${r.uri} HTTP/${r.version.join('.')}`, 'latin1');
    const at = c.raw.indexOf(line, from);
    if (at === -1) return null;
    const eol = c.raw.indexOf('\n', at);
    if (eol === -1) return null;
    parts.push(c.raw.subarray(from, eol + 1));
    const needsHost = r.version.join('.') === '1.1' && !r.headers.some(([n]) => n.toUpperCase() === 'HOST');
    if (needsHost) parts.push(Buffer.from(`Host: ${ADDED_HOST}\r\n`));
    requests.push(needsHost ? { ...r, headers: [['HOST', ADDED_HOST], ...r.headers] } : r);
    from = eol + 1;
  }
  parts.push(c.raw.subarray(from));
  return { raw: Buffer.concat(parts), requests };
}

/**
 * For an invalid case: its bytes with `Host: ADDED_HOST` after the first line when that line ends in
 * HTTP/1.1 and the head has no Host, so the case is refused for its own defect, not for the
 * missing Host. Null when nothing needs adding.
 */
export function invalidWithHost(raw: Buffer): Buffer | null {
  const eol = raw.indexOf('\n');
  if (eol === -1 || !/HTTP\/1\.1\r?$/.test(raw.subarray(0, eol).toString('latin1'))) return null;
  const headEnd = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, headEnd === -1 ? raw.length : headEnd).toString('latin1');
  if (/\nhost:/i.test(head)) return null;
  return Buffer.concat([raw.subarray(0, eol + 1), Buffer.from(`Host: ${ADDED_HOST}\r\n`), raw.subarray(eol + 1)]);
}

export function lacksHost(c: CorpusCase): boolean {
  return (c.requests ?? []).some((r) => r.version.join('.') === '1.1' && !r.headers.some(([n]) => n.toUpperCase() === 'HOST'));
}
