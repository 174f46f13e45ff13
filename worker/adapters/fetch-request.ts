import { Readable } from 'node:stream';
import type { Exchange } from '../exchange/exchange.js';
import { headersFromVars, urlFromVars } from './request-headers.js';
import { nativeClasses, passThrough, whenNativeClasses } from './web-classes.js';

/**
 * A Request whose method, url, headers and signal come straight from the uwsgi vars, and whose
 * text()/json()/arrayBuffer() read the body stream directly. A real Request (and its body stream)
 * is built only if the app reaches for anything else, since building one costs microseconds a
 * hello-world request does not have. `instanceof Request` holds.
 */
const kEx = Symbol('exchange');
const kReal = Symbol('realRequest');
const kHeaders = Symbol('headers');
const kUrl = Symbol('url');
const kUsed = Symbol('bodyUsed');

function real(r: LightRequest): Request {
  if (r[kReal]) return r[kReal];
  const ex = r[kEx];
  const method = ex.method;
  const hasBody = method !== 'GET' && method !== 'HEAD';
  const req = new (nativeClasses().Request)(url(r), {
    method,
    headers: headers(r),
    body: hasBody ? (Readable.toWeb(ex.body()) as ReadableStream<Uint8Array>) : undefined,
    signal: ex.signal,
    duplex: 'half',
  } as RequestInit);
  r[kReal] = req;
  return req;
}

function url(r: LightRequest): string {
  return (r[kUrl] ??= urlFromVars(r[kEx].vars));
}

function headers(r: LightRequest): Headers {
  if (r[kHeaders]) return r[kHeaders];
  const flat = headersFromVars(r[kEx].vars);
  const h = new Headers();
  for (let i = 0; i < flat.length; i += 2) h.append(flat[i]!, flat[i + 1]!);
  r[kHeaders] = h;
  return h;
}

async function readBody(r: LightRequest): Promise<Buffer> {
  if (r[kReal]) return Buffer.from(await r[kReal].arrayBuffer());
  if (r[kUsed]) throw new TypeError('Body is unusable: Body has already been read');
  r[kUsed] = true;
  const ex = r[kEx];
  if (ex.head.contentLength === 0) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  for await (const c of ex.body()) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Light requests are made with Object.create: no constructor runs, createRequest sets the exchange. */
class LightRequest {
  declare [kEx]: Exchange;
  declare [kReal]?: Request;
  declare [kHeaders]?: Headers;
  declare [kUrl]?: string;
  declare [kUsed]?: boolean;

  get method(): string {
    return this[kReal]?.method ?? this[kEx].method;
  }

  get url(): string {
    return url(this);
  }

  get headers(): Headers {
    return this[kReal]?.headers ?? headers(this);
  }

  get signal(): AbortSignal {
    return this[kEx].signal;
  }

  get bodyUsed(): boolean {
    return this[kReal]?.bodyUsed ?? this[kUsed] === true;
  }

  text(): Promise<string> {
    return readBody(this).then((b) => b.toString('utf8'));
  }

  json(): Promise<unknown> {
    return readBody(this).then((b) => JSON.parse(b.toString('utf8')) as unknown);
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return readBody(this).then((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
  }

  bytes(): Promise<Uint8Array> {
    return readBody(this).then((b) => new Uint8Array(b));
  }
}
const proto = LightRequest.prototype;
// `constructor` is Request's once linked (below), as for a real one.
delete (proto as { constructor?: unknown }).constructor;
passThrough(proto, real, ['body', 'cache', 'credentials', 'destination', 'duplex', 'integrity', 'keepalive', 'mode', 'redirect', 'referrer', 'referrerPolicy'], ['blob', 'clone', 'formData']);
// `instanceof Request` holds once Node's Request is loaded, which reading that global does.
whenNativeClasses(({ Request: NativeRequest }) => Object.setPrototypeOf(proto, NativeRequest.prototype));

export function createRequest(ex: Exchange): Request {
  const r = Object.create(proto) as LightRequest;
  r[kEx] = ex;
  return r as unknown as Request;
}
