import { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { PorticoError } from '../../common/errors.js';
import { HOP_BY_HOP, isEventStream, isFinalStatus, isHopByHop, statusHasNoBody } from '../../protocol/http/http-response.js';
import type { Exchange } from '../exchange/exchange.js';
import type { RequestHandler } from '../worker-context.js';
import { headersFromVars, schemeFromVars } from './request-headers.js';
import { ResponseCapture } from './response-capture.js';

/**
 * Node's ServerResponse, with the rules every app kind keeps. A final status only: Node would send
 * a 1xx as if it were the answer, and the client would wait for the real one forever (pipelined,
 * every later answer would shift by one). No interim responses: neither nginx's uwsgi_pass nor
 * the native link carries one (the gateway and nginx answer `Expect: 100-continue` themselves), so
 * writeContinue, writeProcessing and writeEarlyHints send nothing. Own properties, not a subclass's:
 * Express swaps the response's prototype for its own (whose parent is ServerResponse.prototype),
 * and wrappers such as on-headers take `res.writeHead` as they find it and call it on.
 */
function appResponse(req: IncomingMessage): ServerResponse {
  const res = new ServerResponse(req);
  res.useChunkedEncodingByDefault = false;
  res.shouldKeepAlive = false;
  // Node would add its own `Connection: close`: hop-by-hop, meaningless on a link the close already
  // delimits, and on the uwsgi link the mark of an HTTP server refusing the packet (a gateway reads a
  // 400 with it as a wrong-protocol upstream). Removed, Node adds none (OutgoingMessage's own rule).
  res.removeHeader('connection');
  // A body past its Content-Length is Node's ERR_HTTP_CONTENT_LENGTH_MISMATCH at the write,
  // never bytes a client would read as the start of a second response.
  res.strictContentLength = true;
  res.writeHead = finalWriteHead;
  res.writeContinue = noInterim;
  res.writeProcessing = noInterim;
  res.writeEarlyHints = noInterim;
  res.end = checkedEnd;
  return res;
}
const nodeWriteHead = ServerResponse.prototype.writeHead as (this: ServerResponse, ...args: unknown[]) => ServerResponse;
const finalWriteHead = function (this: ServerResponse, ...args: unknown[]): ServerResponse {
  const status = args[0] as number;
  if (!isFinalStatus(status)) throw new PorticoError('PORTICO_ERR_INVALID_STATUS', `${status} (an app's answer must be a final status, 200-599)`);
  // Node frames what it is told to: an app's own `Transfer-Encoding: chunked` would chunk a body
  // the uwsgi link delimits by its close (nginx then passed the chunks on as body bytes), and its
  // `Connection: keep-alive` would keep open the connection whose close ends the response.
  for (const name of HOP_BY_HOP) if (this.hasHeader(name)) this.removeHeader(name);
  const last = args.length - 1;
  const given = last >= 1 && typeof args[last] === 'object' && args[last] !== null ? appHeaders(args[last] as object) : null;
  if (given !== null) args[last] = given.headers;
  // nginx passes an event stream on event by event only when told so (see linkHeaders).
  const type = this.getHeader('content-type') ?? given?.type;
  if (typeof type === 'string' && isEventStream(type) && !this.hasHeader('x-accel-buffering')) this.setHeader('X-Accel-Buffering', 'no');
  return nodeWriteHead.apply(this, args);
} as ServerResponse['writeHead'];

/**
 * writeHead's headers (an object, a flat array or an array of pairs) without hop-by-hop ones, and
 * the first Content-Type among them.
 */
function appHeaders(headers: object): { headers: object; type: unknown } {
  let type: unknown;
  const keep = (name: unknown, value: unknown): boolean => {
    const n = String(name);
    if (type === undefined && n.toLowerCase() === 'content-type') type = value;
    return !isHopByHop(n);
  };
  if (!Array.isArray(headers)) {
    const entries = Object.entries(headers);
    const kept = entries.filter(([k, v]) => keep(k, v));
    return { headers: kept.length === entries.length ? headers : Object.fromEntries(kept), type };
  }
  if (headers.length > 0 && Array.isArray(headers[0])) return { headers: (headers as unknown[][]).filter((pair) => keep(pair[0], pair[1])), type };
  const out: unknown[] = [];
  for (let i = 0; i < headers.length; i += 2) if (keep(headers[i], headers[i + 1])) out.push(headers[i], headers[i + 1]);
  return { headers: out, type };
}

function noInterim(): void {}

/**
 * end(body) before the head is built: Node puts the head and the whole body into the socket's
 * buffer before its strictContentLength check throws, too late to answer 500 instead. So the
 * common slip, `setHeader('Content-Length', text.length)` with non-ASCII text, is caught first.
 */
const nodeEnd = ServerResponse.prototype.end as (this: ServerResponse, ...args: unknown[]) => ServerResponse;
const checkedEnd = function (this: ServerResponse, ...args: unknown[]): ServerResponse {
  const chunk = args[0];
  if (!this.headersSent && (typeof chunk === 'string' || chunk instanceof Uint8Array) && this.req.method !== 'HEAD' && !statusHasNoBody(this.statusCode)) {
    const declared = this.getHeader('content-length');
    if (declared !== undefined) {
      const size = typeof chunk === 'string' ? Buffer.byteLength(chunk, typeof args[1] === 'string' ? (args[1] as BufferEncoding) : 'utf8') : chunk.byteLength;
      if (String(size) !== String(declared).trim()) throw new PorticoError('PORTICO_ERR_BODY_LENGTH', `end() with ${size} bytes under Content-Length ${String(declared)}`);
    }
  }
  return nodeEnd.apply(this, args);
} as ServerResponse['end'];

export type NodeListener = (req: IncomingMessage, res: ServerResponse) => unknown;

/**
 * Runs a Node `(req, res)` listener or an `http.Server` on real IncomingMessage/ServerResponse
 * objects, so Express, Koa's callback() and plain handlers run unmodified. The request is built
 * from the vars (no second HTTP parse); the response is Node's own serializer writing straight to
 * the uwsgi socket with chunked encoding off, so the body is delimited by the close exactly as
 * uWSGI's is, and HEAD/204/304 handling and header validation are Node's. On the native link it
 * writes to a stand-in socket instead (response-capture.ts).
 */
export function nodeHandler(target: NodeListener | Server): RequestHandler {
  const dispatch: NodeListener = target instanceof Server ? (req, res) => target.emit('request', req, res) : target;
  const handler: RequestHandler = (ex: Exchange) => {
    // ServerResponse serializes HTTP onto its socket; on a native link those bytes would break
    // the framing (and in-process there is no socket of its own), so there it writes to a
    // stand-in that turns them back into head and body.
    const capture = ex.sink.link !== 'uwsgi' ? new ResponseCapture(ex) : null;
    const socket = capture === null ? ex.conn : (capture as unknown as Socket);
    const req = buildRequest(ex, capture === null ? undefined : socket);
    const res = appResponse(req);
    res.assignSocket(socket);
    // Node's http server relays the socket's 'drain' to the response (socketOnDrain); without it
    // an app that waits for res's 'drain' after write() returned false (pipe() does) waits forever.
    const onDrain = (): void => {
      if (res.writableNeedDrain) res.emit('drain');
    };
    socket.on('drain', onDrain);
    const detach = (): void => {
      socket.off('drain', onDrain);
      res.detachSocket(socket);
    };
    ex.onAbort(() => {
      if (!req.destroyed) req.destroy();
      res.destroy();
    });
    return new Promise<void>((resolve, reject) => {
      res.on('finish', () => {
        detach();
        if (capture === null) recordHead(ex, res);
        else capture.release();
        ex.end();
        resolve();
      });
      res.on('close', () => {
        // On the native link a response that closes before it finished fails the exchange (a 500,
        // or RESPONSE_ABORT once the head is out), and the link stays usable for the next request.
        if (capture === null || ex.finished || ex.aborted) return resolve();
        reject(capture.error ?? new PorticoError('PORTICO_ERR_APP_EXCEPTION', 'the response was destroyed before it ended'));
      });
      callApp(dispatch, req, res, reject);
    }).catch((err: unknown) => {
      if (capture !== null) capture.release();
      else {
        // Node has already put its head on the wire: the Exchange must cut the connection, not send
        // a 500. A head Node built but never wrote (a write refused by strictContentLength) is not out.
        if (res.headersSent && ex.conn.bytesWritten > 0) recordHead(ex, res);
        detach();
      }
      throw asPorticoError(err);
    });
  };
  if (target instanceof Server) handler.upgrade = (ex) => (target.listenerCount('upgrade') > 0 ? serveUpgrade(ex, target) : null);
  return handler;
}

/**
 * A WebSocket handshake for an http.Server with 'upgrade' listeners: Node's own
 * `'upgrade' (req, socket, head)`, with the uwsgi connection as the socket, so
 * `new WebSocketServer({ server })`, `handleUpgrade` and socket.io run unmodified. The app writes
 * its 101 (or its refusal) itself, and nginx turns the connection into a tunnel on the 101. The
 * request lasts until the connection closes; its log line has the status the app wrote.
 */
function serveUpgrade(ex: Exchange, server: Server): Promise<void> {
  const { req, socket } = takeUpgrade(ex);
  return new Promise<void>((resolve, reject) => {
    socket.once('close', () => resolve());
    try {
      server.emit('upgrade', req, socket, Buffer.alloc(0));
    } catch (err) {
      socket.destroy();
      reject(err);
    }
  });
}

/**
 * The connection of a WebSocket handshake, taken from the exchange (Exchange.takeOver), and the
 * request as node:http's `'upgrade'` gives it: what ws's handleUpgrade takes. The status line of
 * the first write on it becomes the request's status, for the request log and the stop's
 * going-away (nothing else is looked at; a tunnel parses its head anyway and says the same).
 */
export function takeUpgrade(ex: Exchange): { req: IncomingMessage; socket: Duplex } {
  const onUwsgi = ex.canTakeOver && ex.sink.link === 'uwsgi';
  const socket = ex.takeOver();
  // What follows the head is the new protocol's, the socket's to read: the request has no body.
  const req = buildRequest(ex, onUwsgi ? undefined : (socket as Socket), false);
  const write = socket.write;
  socket.write = function (this: Duplex, ...args: Parameters<Duplex['write']>): boolean {
    socket.write = write;
    const first = args[0];
    const line = typeof first === 'string' ? first.slice(0, 16) : Buffer.isBuffer(first) ? first.toString('latin1', 0, 16) : '';
    ex.status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(line)?.[1] ?? 0);
    return write.apply(this, args);
  } as Duplex['write'];
  return { req, socket };
}

/**
 * Calls the app as node:http calls a listener, `(req, res)`; a throw or a rejected promise fails
 * the request. No third argument: an Express app without one ends in its own final handler, which
 * answers with the error's own status and headers (send's 416 with its Content-Range,
 * body-parser's 400 and 413, a 404 for no route); and a third parameter is not always `next`
 * (Next.js's getRequestHandler() takes a parsed URL there).
 */
function callApp(dispatch: NodeListener, req: IncomingMessage, res: ServerResponse, reject: (err: unknown) => void): void {
  try {
    const out = dispatch(req, res);
    if (out instanceof Promise) out.catch(reject);
  } catch (err) {
    reject(err);
  }
}

/** Node's own header validation errors are the same failure as the other kinds' invalid header. */
function asPorticoError(err: unknown): unknown {
  const code = (err as { code?: string } | null)?.code;
  if (code === 'ERR_INVALID_CHAR' || code === 'ERR_INVALID_HTTP_TOKEN') {
    return new PorticoError('PORTICO_ERR_INVALID_HEADER', (err as Error).message, { cause: err });
  }
  if (code === 'ERR_HTTP_CONTENT_LENGTH_MISMATCH') return new PorticoError('PORTICO_ERR_BODY_LENGTH', (err as Error).message, { cause: err });
  if (code === 'ERR_HTTP_INVALID_STATUS_CODE') return new PorticoError('PORTICO_ERR_INVALID_STATUS', (err as Error).message, { cause: err });
  return err;
}

function buildRequest(ex: Exchange, on?: Socket, withBody = true): IncomingMessage {
  const v = ex.vars;
  let socket = on;
  if (!socket) {
    socket = ex.conn as Socket & { remoteAddress?: string; remotePort?: number };
    // Apps ask the socket who the client is (Express's req.ip); on a unix socket it knows nothing,
    // so it answers with what nginx said in REMOTE_ADDR/REMOTE_PORT.
    Object.defineProperty(socket, 'remoteAddress', { value: v.get('REMOTE_ADDR') ?? undefined, configurable: true });
    Object.defineProperty(socket, 'remotePort', { value: Number(v.get('REMOTE_PORT')) || undefined, configurable: true });
    // Express's req.secure, Koa's ctx.protocol and fastify's request.protocol ask the socket;
    // behind nginx's TLS (or a trusted proxy's X-Forwarded-Proto) the vars say https.
    Object.defineProperty(socket, 'encrypted', { value: schemeFromVars(v) === 'https', configurable: true });
  }
  const req = new IncomingMessage(socket);
  const protocol = v.get('SERVER_PROTOCOL') ?? 'HTTP/1.1';
  const pm = /^HTTP\/(\d)\.(\d)$/.exec(protocol);
  req.httpVersionMajor = pm ? Number(pm[1]) : 1;
  req.httpVersionMinor = pm ? Number(pm[2]) : 1;
  req.httpVersion = `${req.httpVersionMajor}.${req.httpVersionMinor}`;
  req.method = ex.method;
  req.url = v.get('REQUEST_URI') ?? v.get('PATH_INFO') ?? '/';
  const flat = headersFromVars(v);
  // What Node's own parser calls: it sets rawHeaders and the count that the lazy req.headers and
  // req.headersDistinct getters read (rawHeaders alone leaves both empty). Before `complete` is
  // set, or Node files them as trailers.
  (req as IncomingMessage & { _addHeaderLines(h: string[], n: number): void })._addHeaderLines(flat, flat.length);
  if (!withBody) {
    req.complete = true;
    req.push(null);
    return req;
  }
  req.complete = ex.head.contentLength === 0;
  const body = ex.body();
  body.on('data', (chunk: Buffer) => {
    if (!req.push(chunk)) body.pause();
  });
  body.on('end', () => {
    req.complete = true;
    req.push(null);
  });
  req._read = () => body.resume();
  return req;
}

function recordHead(ex: Exchange, res: ServerResponse): void {
  const head = (res as unknown as { _header?: string })._header ?? '';
  ex.headWritten(res.statusCode, Math.max(0, head.split('\r\n').length - 3), head.length);
  ex.bodyBytes = Math.max(0, ex.conn.bytesWritten - head.length);
  // Node wrote to the socket itself: its head, and its body (in one write or more, it does not say).
  ex.writes = ex.bodyBytes > 0 ? 2 : 1;
}
