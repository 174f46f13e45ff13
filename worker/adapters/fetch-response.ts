/**
 * A Response that keeps a string or byte body as it was given, so the worker can write it without
 * going through a ReadableStream (on Node 20 creating and draining a Response body stream costs
 * more than a whole bare uwsgi request). Anything an app asks for beyond status, body and headers
 * builds the real Response on demand, and `instanceof Response` holds. The idea is the one
 * @hono/node-server uses; installed as globalThis.Response before the app is imported.
 */
import { nativeClasses, passThrough, whenNativeClasses } from './web-classes.js';

/** Node's Response (loaded on first use: web-classes.ts). */
export function nativeResponse(): typeof Response {
  return nativeClasses().Response;
}

export const kCached = Symbol('portico.cachedResponse');
const kReal = Symbol('portico.realResponse');

type SimpleBody = string | Uint8Array | null;

export interface CachedResponse {
  status: number;
  statusText: string | undefined;
  body: SimpleBody;
  headers: HeadersInit | undefined;
}

function isSimpleBody(body: unknown): body is SimpleBody | undefined {
  return body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array;
}

const ordinaryHasInstance = Function.prototype[Symbol.hasInstance];

export class LightResponse {
  [kCached]: CachedResponse | undefined;
  [kReal]: Response | undefined;

  /**
   * `x instanceof Response` (the global, this class once installed) holds for Node's own Responses
   * too: fetch()'s, Response.json/redirect/error's (inherited statics that build the native class),
   * a library's that kept the native class. Next.js refuses a route handler's Response.json(...)
   * without this. A subclass (NextResponse extends Response) keeps the ordinary test.
   */
  static [Symbol.hasInstance](this: object, value: unknown): boolean {
    return this === LightResponse ? value instanceof nativeResponse() : ordinaryHasInstance.call(this, value);
  }

  // Node's statics (build native Responses); inherited once Node's class is linked, here before.
  static json(data: unknown, init?: ResponseInit): Response {
    return nativeResponse().json(data, init);
  }

  static redirect(url: string | URL, status?: number): Response {
    return nativeResponse().redirect(url, status);
  }

  static error(): Response {
    return nativeResponse().error();
  }

  constructor(body?: BodyInit | null, init?: ResponseInit) {
    if (isSimpleBody(body) && (init === undefined || init === null || typeof init === 'object')) {
      const status = init?.status ?? 200;
      if (Number.isInteger(status) && status >= 200 && status <= 599) {
        this[kCached] = { status, statusText: init?.statusText, body: body ?? null, headers: init?.headers };
        return;
      }
    }
    this[kReal] = new (nativeResponse())(body, init);
  }
}

/** The real Response, built the first time an app needs more than the cached fields. */
function real(r: LightResponse): Response {
  let res = r[kReal];
  if (!res) {
    const c = r[kCached]!;
    res = new (nativeResponse())(c.body as BodyInit | null, { status: c.status, statusText: c.statusText, headers: c.headers });
    r[kReal] = res;
    r[kCached] = undefined;
  }
  return res;
}

passThrough(LightResponse.prototype, real, ['body', 'bodyUsed', 'headers', 'ok', 'redirected', 'statusText', 'type', 'url'], ['arrayBuffer', 'blob', 'bytes', 'clone', 'formData', 'json', 'text']);
Object.defineProperty(LightResponse.prototype, 'status', {
  get(this: LightResponse) {
    return this[kCached]?.status ?? real(this).status;
  },
});
whenNativeClasses(({ Response: NativeResponse }) => {
  Object.setPrototypeOf(LightResponse, NativeResponse);
  Object.setPrototypeOf(LightResponse.prototype, NativeResponse.prototype);
});

/** A LightResponse itself (`instanceof LightResponse` holds for native Responses as well). */
export function isLightResponse(value: unknown): value is LightResponse {
  return typeof value === 'object' && value !== null && kReal in value;
}

/** The real Response behind a LightResponse, or the response itself. */
export function realResponse(res: Response): Response {
  return isLightResponse(res) ? real(res) : res;
}

export function installLightResponse(): void {
  (globalThis as { Response: unknown }).Response = LightResponse;
}
