import { PorticoError } from '../../common/errors.js';
import type { Exchange } from '../exchange/exchange.js';
import type { RequestHandler } from '../worker-context.js';
import { PORTICO_VERSION } from '../../common/version.js';
import { schemeFromVars } from './request-headers.js';

export type WsgiChunk = string | Uint8Array;
export type WsgiHeaders = Array<[string, string]> | Array<readonly [string, string]>;
export type StartResponse = (status: string, headers: WsgiHeaders, excInfo?: unknown) => (chunk: WsgiChunk) => void;
export type WsgiEnviron = Record<string, unknown>;
export type WsgiApplication = (environ: WsgiEnviron, startResponse: StartResponse) => Iterable<WsgiChunk> | AsyncIterable<WsgiChunk> | Promise<Iterable<WsgiChunk> | AsyncIterable<WsgiChunk>>;

/**
 * Runs a WSGI-shaped app (PEP 3333 translated to JS): the head goes out with the first non-empty
 * chunk, or at the end for an empty body, so an app may still change its mind (start_response
 * again with exc_info) until then.
 */
export function wsgiHandler(app: WsgiApplication): RequestHandler {
  return async (ex: Exchange) => {
    let pending: { status: number; text: string; headers: string[] } | null = null;
    const write = (chunk: WsgiChunk): void => {
      sendHeadIfPending();
      ex.write(toBytes(chunk));
    };
    const startResponse: StartResponse = (status, headers, excInfo) => {
      if (pending && !excInfo) throw new PorticoError('PORTICO_ERR_APP_EXCEPTION', 'start_response called twice without exc_info');
      if (ex.headSent && excInfo) throw excInfo;
      pending = { ...parseStatus(status), headers: flatten(headers) };
      return write;
    };
    const sendHeadIfPending = (): void => {
      if (ex.headSent) return;
      if (!pending) throw new PorticoError('PORTICO_ERR_APP_EXCEPTION', 'the app sent body data before start_response');
      ex.writeHead(pending.status, pending.text, pending.headers);
    };

    const result = await app(environFor(ex), startResponse);
    try {
      for await (const chunk of result as AsyncIterable<WsgiChunk>) {
        if (ex.aborted) break;
        const bytes = toBytes(chunk);
        if (bytes.length === 0) continue;
        sendHeadIfPending();
        if (!ex.write(bytes)) await ex.drained();
      }
    } finally {
      const close = (result as { close?: () => unknown }).close;
      if (typeof close === 'function') await close.call(result);
    }
    if (ex.aborted) return;
    sendHeadIfPending();
    ex.end();
  };
}

/** The CGI vars as received (a repeated var joined as a header would be), plus portico's keys. */
function environFor(ex: Exchange): WsgiEnviron {
  const env: WsgiEnviron = {};
  const f = ex.vars.flat;
  for (let i = 0; i < f.length; i += 2) {
    const k = f[i]!;
    const prev = env[k];
    env[k] = prev === undefined ? f[i + 1] : `${prev as string}${k === 'HTTP_COOKIE' ? '; ' : ', '}${f[i + 1]}`;
  }
  const scheme = schemeFromVars(ex.vars);
  let input: unknown;
  Object.defineProperty(env, 'portico.input', { enumerable: true, get: () => (input ??= ex.body()) });
  env['portico.errors'] = process.stderr;
  env['portico.url_scheme'] = scheme;
  env['portico.version'] = PORTICO_VERSION;
  Object.defineProperty(env, 'portico.signal', { enumerable: true, get: () => ex.signal });
  return env;
}

function parseStatus(status: string): { status: number; text: string } {
  const m = /^(\d{3})(?: (.*))?$/.exec(String(status));
  if (!m) throw new PorticoError('PORTICO_ERR_APP_EXCEPTION', `bad status ${JSON.stringify(status)} passed to start_response`);
  return { status: Number(m[1]), text: m[2] ?? '' };
}

function flatten(headers: WsgiHeaders): string[] {
  const out: string[] = [];
  for (const [k, v] of headers) out.push(String(k), String(v));
  return out;
}

function toBytes(chunk: WsgiChunk): Uint8Array {
  return typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
}
