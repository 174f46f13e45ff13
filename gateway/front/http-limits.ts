import { STATUS_CODES, IncomingMessage, type ServerOptions, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { defaults } from '../../config/defaults.js';
import { ErrorCodes, PorticoError, type ErrorCode } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { isValidHost } from '../../protocol/http/host.js';
import type { AccessLog } from './access-log.js';
import type { ForwardedRequest } from '../forwarding/forward-types.js';
import { sendError } from '../forwarding/forward-common.js';

/** The gateway's limits on what a client may send, with gunicorn's names (`--limit-request-*`). */
export interface HttpLimitOptions {
  limitRequestLine?: number;
  limitRequestFields?: number;
  limitRequestFieldSize?: number;
  /** Seconds for a request's head to arrive (slowloris), and for the whole request with its body. */
  headersTimeout?: number;
  requestTimeout?: number;
  /** Seconds a keep-alive connection may stay idle between requests. */
  keepAliveTimeout?: number;
  maxConnections?: number;
  bodyLimit?: number;
}

export type HttpLimits = ReturnType<typeof resolveHttpLimits>;

export function resolveHttpLimits(o: HttpLimitOptions) {
  const limits = {
    requestLine: o.limitRequestLine ?? defaults.limitRequestLine,
    fields: o.limitRequestFields ?? defaults.limitRequestFields,
    fieldSize: o.limitRequestFieldSize ?? defaults.limitRequestFieldSize,
    headersTimeoutMs: (o.headersTimeout ?? defaults.headersTimeout) * 1000,
    requestTimeoutMs: (o.requestTimeout ?? defaults.requestTimeout) * 1000,
    keepAliveTimeoutMs: o.keepAliveTimeout !== undefined ? o.keepAliveTimeout * 1000 : defaults.gatewayKeepAliveTimeoutMs,
    maxConnections: o.maxConnections ?? defaults.maxConnections,
    bodyLimit: o.bodyLimit ?? defaults.bodyLimit,
  };
  // 0 would mean "no limit" to Node for some of these and "refuse everything" to the checks here:
  // neither is what anyone asking for 0 wants, so it is refused at start.
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `${name} must be at least 1, got ${value}`);
  }
  return limits;
}

/**
 * The options node:http's server takes at creation for the limits. maxHeaderSize: Node counts the
 * request line and every header into one budget and answers 431 past it before anything here
 * runs; it is sized so that only the per-line and per-field limits (with their own codes) decide,
 * as gunicorn's do. The timeouts answer 408 (or close) through onClientError, and Node checks
 * them every connectionsCheckingInterval (30 s by default: far too coarse for a timeout of a few
 * seconds).
 */
export function serverLimitOptions(limits: HttpLimits): ServerOptions {
  const headersTimeout = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
  return {
    maxHeaderSize: limits.requestLine + 2 + (limits.fields + 1) * (limits.fieldSize + 2) + 2,
    headersTimeout,
    requestTimeout: limits.requestTimeoutMs,
    // The idle timeout between requests, node:http's and the lean front's (and their Keep-Alive: timeout=N).
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.min(30_000, Math.max(50, Math.floor(headersTimeout / 4))),
  };
}

/** Node's refusals (its parser, its timeouts) get a code and a log line like the gateway's own. */
export function onClientError(err: Error & { code?: string; reason?: string }, socket: Socket, log: Logger, access: AccessLog | null): void {
  // Bytes still arriving on a connection already refused are the same refusal, not a new one.
  if (err.code === 'ECONNRESET' || socket.destroyed || handled.has(socket)) return;
  handled.add(socket);
  // The client closed in the middle of a request (typically of a body it stopped sending once it
  // had its answer): a hang-up, not a bad request. Nothing can be answered; the forwarder hears
  // of it from the close and tells the worker.
  if (err.code === 'HPE_INVALID_EOF_STATE') {
    socket.destroy();
    return;
  }
  const code: ErrorCode =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'PORTICO_ERR_REQUEST_TIMEOUT' : err.code === 'HPE_HEADER_OVERFLOW' ? 'PORTICO_ERR_HEADERS_TOO_LARGE' : 'PORTICO_ERR_BAD_HTTP_REQUEST';
  log.error(code, `${socket.remoteAddress ?? 'unix'}: ${err.code ?? ''} ${err.reason ?? err.message}`);
  access?.noteRaw(socket, ErrorCodes[code].status);
  answerAfterPending(socket, code);
}

/**
 * A head the lean front has had in part for --headers-timeout (a first head: since the accept):
 * answered as node:http's own timeout is.
 */
export function headTimedOut(socket: Socket, log: Logger, access: AccessLog | null = null): void {
  onClientError(Object.assign(new Error('the request head did not arrive within --headers-timeout of the accept'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), socket, log, access);
}

/**
 * Pipelined requests before the bad one are still being answered (Node writes their responses in
 * order): the error goes after them, or the client would take it for an earlier request's answer.
 * Data after a `Connection: close` request (HPE_CLOSED_CONNECTION) ends the same way: that request
 * is answered, then the connection closes. An error in the body of the request being answered
 * (a bad chunk) is answered at once instead: that response would wait for the body for ever.
 */
function answerAfterPending(socket: Socket, code: ErrorCode): void {
  const pending = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (pending && !pending.writableFinished) {
    if (pending.req?.complete) {
      // Node closes at once after that answer when it ends the connection (destroySoon).
      socket.destroySoon = () => lingerClose(socket);
      pending.once('finish', () => setImmediate(() => answerAfterPending(socket, code)));
      return;
    }
    // Its head is out already: a 400 now would land inside that response. Closing cuts it, and
    // the forwarder tells the worker that its client went away.
    if (pending.headersSent) {
      socket.destroy();
      return;
    }
  }
  // The parser is in an unknown state: nothing more can be read from this connection.
  if (socket.writable) socket.write(clientErrorAnswer(code));
  // A request still waiting for its body (a bad chunk, a timeout) is cut at once: the forwarder
  // hears of it from the close and tells the worker. Otherwise the answer must survive the close.
  if (pending && !pending.writableFinished) socket.destroy();
  else lingerClose(socket);
}

/** The whole answer, closing the connection, to a request refused before any route saw it. */
export function clientErrorAnswer(code: ErrorCode): string {
  const { status } = ErrorCodes[code];
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Bad Request'}\r\nDate: ${new Date().toUTCString()}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${status.toString().length + code.length + 2}\r\n\r\n${status} ${code}\n`;
}

const handled = new WeakSet<Socket>();
/** How long a refused connection's input is still read and dropped before it is closed anyway. */
const LINGER_MS = 2000;

/**
 * Closes after an error answer the way nginx's lingering_close does: our side sends FIN, and what
 * the client still sends is read and dropped until it closes too (or LINGER_MS pass). Closing with
 * unread input makes the kernel send a reset, and a reset makes the client's kernel throw away
 * the answer it has not read yet.
 */
function lingerClose(socket: Socket): void {
  if (socket.destroyed) return;
  handled.add(socket);
  if (socket.writableEnded) return;
  socket.end();
  socket.on('data', () => {});
  socket.resume();
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('end', () => socket.destroy());
  socket.once('close', () => clearTimeout(timer));
}

/** CONNECT is for forward proxies: Node closes the connection without a word if nobody answers it. */
export function refuseConnect(req: IncomingMessage, socket: Socket, log: Logger): void {
  log.error('PORTICO_ERR_METHOD_NOT_ALLOWED', `CONNECT ${(req.url ?? '').slice(0, 256)}: ${ErrorCodes.PORTICO_ERR_METHOD_NOT_ALLOWED.message}`);
  socket.on('error', () => {});
  if (socket.writable) socket.write(clientErrorAnswer('PORTICO_ERR_METHOD_NOT_ALLOWED'));
  lingerClose(socket);
}

/**
 * The limit checks for a request node:http parsed, before anything answers it (fastify, its hooks,
 * the static files): false when it was refused here (answered, or a request pipelined behind a
 * refused one), and nothing else may see it.
 */
export function admitRequest(req: IncomingMessage, res: ServerResponse, limits: HttpLimits, log: Logger, access: AccessLog | null): boolean {
  // A request pipelined behind a refused one (Node parsed it already) is never served: the
  // refusal closes the connection, and after a framing refusal these bytes were its body.
  if (handled.has(req.socket)) return false;
  if (access) res.once('finish', () => access.note(req, res));
  const refusal = checkHead(req, limits) ?? toOriginForm(req);
  if (refusal) {
    refuse(req, res, log, refusal[0], refusal[1]);
    return false;
  }
  if (seen.chunked) {
    // A Content-Length body was checked above; only a chunked one has to be counted as it comes.
    limitBody(req, res, limits.bodyLimit, log);
    // The lean front decodes every chunked body it forwards, strictly; one here (static files,
    // a method not forwarded, an upgrade, a --gateway-plugin) is read by llhttp, which takes chunk
    // sizes up to 2^64 - 1 where nginx stops at 2^63 - 1: nothing after it is read as a request.
    res.setHeader('Connection', 'close');
  }
  return true;
}

/**
 * What checkHead saw of the last request: read in the same pass over rawHeaders, because
 * req.headers is built on first use, and nothing on a forwarded request's path needs it otherwise.
 */
const seen = { chunked: false };

/** The first limit the request's head breaks, if any. */
export function checkHead(req: ForwardedRequest, limits: HttpLimits): [ErrorCode, string] | null {
  seen.chunked = false;
  const bad = checkFraming(req);
  if (bad) return ['PORTICO_ERR_BAD_HTTP_REQUEST', bad];
  // The line as sent: METHOD SP target SP HTTP/x.y (without CRLF, as gunicorn counts it).
  const line = (req.method?.length ?? 0) + (req.url?.length ?? 0) + 10;
  if (line > limits.requestLine) return ['PORTICO_ERR_REQUEST_LINE_TOO_LONG', `request line of ${line} bytes, over --limit-request-line ${limits.requestLine}`];
  const raw = req.rawHeaders;
  if (raw.length / 2 > limits.fields) return ['PORTICO_ERR_TOO_MANY_HEADERS', `more than --limit-request-fields ${limits.fields} header fields`];
  let hosts = 0;
  let cl: string | undefined;
  let te: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // `Name: value` CRLF, as a client writes it (Node has already trimmed the value's spaces).
    const size = name.length + raw[i + 1]!.length + 4;
    if (size > limits.fieldSize) return ['PORTICO_ERR_HEADER_FIELD_TOO_LARGE', `header ${name.slice(0, 64)} of ${size} bytes, over --limit-request-field-size ${limits.fieldSize}`];
    const n = name.length;
    if (n !== 4 && n !== 14 && n !== 17) continue;
    const lower = name.toLowerCase();
    if (lower === 'host') {
      hosts++;
      const host = raw[i + 1]!;
      if (host !== '' && !isValidHost(host)) return ['PORTICO_ERR_INVALID_HOST', JSON.stringify(host.slice(0, 128))];
    } else if (lower === 'content-length') cl ??= raw[i + 1];
    else if (lower === 'transfer-encoding') {
      seen.chunked = true;
      te = raw[i + 1]!;
    }
  }
  // RFC 9112 §6.3: a request whose last transfer coding is not chunked has no reliable length. Node
  // takes an empty Transfer-Encoding as no body at all, so the body would be read as the next request.
  if (te !== undefined && !/(?:^|,)\s*chunked\s*$/i.test(te)) return ['PORTICO_ERR_BAD_HTTP_REQUEST', `Transfer-Encoding ${JSON.stringify(te.slice(0, 64))} does not end with chunked`];
  // Node keeps the first Host, an app or a cache behind might take the last (nginx refuses both).
  if (hosts > 1) return ['PORTICO_ERR_BAD_HTTP_REQUEST', 'more than one Host header'];
  if (cl !== undefined && Number(cl) > limits.bodyLimit) return ['PORTICO_ERR_BODY_TOO_LARGE', `Content-Length ${cl} over --body-limit ${limits.bodyLimit}`];
  return null;
}

/**
 * What Node's parser lets through but nginx (and gunicorn) refuse with 400, because a server or
 * app behind could read the request otherwise: a version other than 1.x, a chunked body in
 * HTTP/1.0 (which has no chunked encoding: an HTTP/1.0 hop would take it as the body), the
 * asterisk target on anything but OPTIONS, and a target that is neither a path nor an http(s)
 * URL. Node itself refuses Transfer-Encoding with Content-Length, repeated Content-Length,
 * obsolete line folding and spaces before the colon.
 */
function checkFraming(req: ForwardedRequest): string | null {
  if (req.httpVersionMajor !== 1) return `HTTP version ${req.httpVersion} on an HTTP/1 connection`;
  if (req.httpVersionMinor === 0 && req.headers['transfer-encoding'] !== undefined) return 'Transfer-Encoding in an HTTP/1.0 request';
  const url = req.url ?? '';
  if (url === '*') return req.method === 'OPTIONS' ? null : `${req.method} * (the asterisk target is for OPTIONS only)`;
  // Origin form, or absolute form with an http(s) authority (CONNECT's authority form never gets here).
  if (url.charCodeAt(0) !== 47 && !/^https?:\/\/[\w.~%!$&'()*+,;=:@[\]-]+(?:[/?#]|$)/i.test(url)) return `request target ${JSON.stringify(url.slice(0, 64))} is neither a path nor an http(s) URL`;
  return null;
}

const ABSOLUTE_FORM = /^https?:\/\/([^/?#]*)([^#]*)/i;

/**
 * An absolute-form target (`GET http://host/p HTTP/1.1`, which RFC 9112 §3.2.2 has servers
 * accept) becomes what nginx makes of it: the path and query as the target, the authority as the
 * Host (the received Host header is ignored). Before anything routes the request, so `--static`
 * mounts and the app see `/p`, never `/http://host/p`. An authority with userinfo, or that is
 * not a valid host, is refused. For node:http's requests and the lean front's heads alike.
 */
export function toOriginForm(req: { url?: string; rawHeaders: string[] }): [ErrorCode, string] | null {
  const url = req.url ?? '/';
  if (url.charCodeAt(0) === 47 || url === '*') return null;
  const m = ABSOLUTE_FORM.exec(url);
  if (!m) return null;
  const authority = m[1]!;
  if (!isValidHost(authority)) return ['PORTICO_ERR_INVALID_HOST', `${JSON.stringify(authority.slice(0, 128))} in an absolute-form target`];
  const rest = m[2]!;
  req.url = rest === '' ? '/' : rest.charCodeAt(0) === 63 ? `/${rest}` : rest;
  const raw = req.rawHeaders;
  let found = false;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') {
      raw[i + 1] = authority;
      found = true;
    }
  }
  if (!found) raw.push('Host', authority);
  // IncomingMessage.headers is built from rawHeaders on first use; if something built it already, it follows.
  if (req instanceof IncomingMessage) req.headers.host = authority;
  return null;
}

/** Answers a refused request and closes without passing its body on: nobody wants what follows. */
function refuse(req: IncomingMessage, res: ServerResponse, log: Logger, code: ErrorCode, detail: string): void {
  handled.add(req.socket);
  res.shouldKeepAlive = false;
  // Node ends the connection after this answer (destroySoon); the client may still be sending
  // the body, so the close lingers (see lingerClose) instead of resetting.
  req.socket.destroySoon = () => lingerClose(req.socket);
  sendError(res, { log }, code, detail, req, { connection: 'close' });
}

/**
 * Counts a body of unknown length (chunked) as Node's parser hands it over, and closes the
 * connection once it passes --body-limit: the request is already streaming to a worker, which
 * sees a client that went away (its abort signal fires), and nothing more is read. A 413 cannot be
 * sent safely here: the worker may be answering at the same moment.
 */
function limitBody(req: IncomingMessage, res: ServerResponse, limit: number, log: Logger): void {
  let size = 0;
  const push = req.push;
  req.push = function (chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk !== null && chunk !== undefined) {
      size += (chunk as Buffer).length;
      if (size > limit) {
        if (!res.destroyed) {
          log.error('PORTICO_ERR_BODY_TOO_LARGE', `${req.method} ${req.url}: ${ErrorCodes.PORTICO_ERR_BODY_TOO_LARGE.message}: body over --body-limit ${limit} bytes; connection closed`);
          res.destroy();
        }
        return false;
      }
    }
    return push.call(this, chunk, encoding);
  };
}
