import { PorticoError } from '../../common/errors.js';
import { statusHasNoBody } from '../../protocol/http/http-response.js';
import type { Exchange } from '../exchange/exchange.js';
import type { RequestHandler } from '../worker-context.js';
import { UpgradeOffer } from './fetch-websocket.js';
import { createRequest } from './fetch-request.js';
import { kCached, nativeResponse, realResponse, type CachedResponse } from './fetch-response.js';

export type FetchFunction = (request: Request) => Response | Promise<Response>;

/** Runs a fetch-style app: `(request: Request) => Response | Promise<Response>`. */
export function fetchHandler(fetch: FetchFunction): RequestHandler {
  const handler: RequestHandler = (ex: Exchange) => {
    const result = fetch(createRequest(ex));
    if (result instanceof Promise) return result.then((res) => sendResponse(ex, res));
    return sendResponse(ex, result);
  };
  handler.upgrade = (ex) => serveUpgrade(ex, fetch);
  return handler;
}

/**
 * A WebSocket handshake: the app may take it with upgradeWebSocket(request) (fetch-websocket.ts)
 * and return its response; another answer is a refusal and is sent as it is, except a success
 * from an app that never looked at the upgrade: that would serve the handshake as a plain GET,
 * so it is a 501 PORTICO_ERR_UPGRADE_UNSUPPORTED with the fix.
 */
async function serveUpgrade(ex: Exchange, fetch: FetchFunction): Promise<void> {
  const request = createRequest(ex);
  const offer = new UpgradeOffer(request);
  const res = await fetch(request);
  if (ex.aborted) return;
  // node-app builds the IncomingMessage ws's handleUpgrade takes: loaded with the first handshake.
  const { takeUpgrade } = await import('./node-app.js');
  if (await offer.settle(res, { take: () => takeUpgrade(ex) })) return;
  const status = (res as { status?: unknown } | null | undefined)?.status;
  if (!offer.offered && typeof status === 'number' && status >= 200 && status < 300) {
    throw new PorticoError(
      'PORTICO_ERR_UPGRADE_UNSUPPORTED',
      `the fetch app answered a WebSocket handshake with ${status}, not an upgrade: take it with upgradeWebSocket(request) from portico/websocket (docs/websockets.md), or refuse it with a 4xx`,
    );
  }
  return sendResponse(ex, res);
}

function sendResponse(ex: Exchange, res: unknown): void | Promise<void> {
  if (ex.aborted) return;
  // Any value may come back: a LightResponse's cached fields, else undefined.
  const cached = (res as { [kCached]?: CachedResponse } | null | undefined)?.[kCached];
  if (cached) return sendCached(ex, cached);
  // Not the global `Response`: that is LightResponse once installed, and the static
  // Response.json/redirect/error (inherited from Node's class) still build native Responses.
  if (!(res instanceof nativeResponse())) {
    throw new PorticoError('PORTICO_ERR_APP_EXCEPTION', `the app's fetch returned ${describe(res)}, not a Response`);
  }
  return sendNative(ex, realResponse(res));
}

/** The fast path: a string or byte body is written with the head in one go. */
function sendCached(ex: Exchange, c: CachedResponse): void {
  const headers = flattenHeaders(c.headers);
  const body = c.body;
  // 1xx, 204 and 304 carry no body, and RFC 9110 §8.6 forbids a Content-Length on 1xx and 204.
  if (body !== null && !statusHasNoBody(c.status)) {
    let hasType = false;
    let hasLength = false;
    for (let i = 0; i < headers.length; i += 2) {
      const n = headers[i]!.toLowerCase();
      if (n === 'content-type') hasType = true;
      else if (n === 'content-length') hasLength = true;
    }
    if (!hasType && typeof body === 'string') headers.push('content-type', 'text/plain;charset=UTF-8');
    // A string is encoded straight into the buffer the exchange writes; bytes are not copied here.
    const out = typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    if (!hasLength) headers.push('content-length', String(typeof out === 'string' ? Buffer.byteLength(out) : out.length));
    ex.writeHead(c.status, c.statusText, headers, out);
  } else {
    ex.writeHead(c.status, c.statusText, headers, '');
  }
  ex.end();
}

async function sendNative(ex: Exchange, res: Response): Promise<void> {
  const headers: string[] = [];
  for (const [name, value] of res.headers) headers.push(name, value);
  ex.writeHead(res.status, res.statusText, headers);
  if (res.body && !ex.isHead) {
    const reader = res.body.getReader();
    const cancel = (): void => void reader.cancel().catch(() => {});
    ex.onAbort(cancel);
    for (;;) {
      const { done, value } = await reader.read();
      if (done || ex.aborted) break;
      if (!ex.write(value)) await ex.drained();
    }
  } else {
    await res.body?.cancel();
  }
  ex.end();
}

function flattenHeaders(init: HeadersInit | undefined): string[] {
  const out: string[] = [];
  if (init === undefined) return out;
  // Headers and arrays of pairs both iterate as [name, value].
  if (init instanceof Headers || Array.isArray(init)) for (const [k, v] of init) out.push(String(k), String(v));
  else for (const k of Object.keys(init)) out.push(k, String((init as Record<string, string>)[k]));
  return out;
}

function describe(v: unknown): string {
  return v === null ? 'null' : typeof v === 'object' ? `an object (${v.constructor?.name ?? 'no constructor'})` : typeof v;
}
