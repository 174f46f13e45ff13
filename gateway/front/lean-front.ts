import { maxHeaderSize as defaultMaxHeaderSize, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { PorticoError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { AccessLog } from './access-log.js';
import { ConnectionGuard } from './connection-guard.js';
import { checkHead, clientErrorAnswer, headTimedOut, toOriginForm, type HttpLimits } from './http-limits.js';
import { LeanConnection, type LeanHost, type ParsedHead } from './lean-connection.js';
import { LeanBodyRequest, LeanRequest, type LeanIncoming } from './lean-request.js';
import type { LeanResponse } from './lean-response.js';
import type { StaticCache } from '../static/static-cache.js';

/** node:http's continueExpression. */
const CONTINUE_EXPECTATION = /(?:^|\W)100-continue(?:$|\W)/i;

export interface LeanFrontOptions {
  limits: HttpLimits;
  log: Logger;
  staticPrefixes: readonly string[];
  /** Answers a repeated GET or HEAD of a --static file from memory (null: no --static mount). */
  staticCache: StaticCache | null;
  methods: ReadonlySet<string>;
  /** Body-less and Content-Length requests only while every upstream speaks the native link (a uwsgi upstream needs a real stream). */
  allNative: () => boolean;
  forward: (req: LeanIncoming, res: LeanResponse) => void;
  access: AccessLog | null;
  /** Upgraded connections handed to a worker process: they still count towards --max-connections. */
  elsewhere?: () => number;
}

/**
 * The gateway's lean front: node:http's IncomingMessage and ServerResponse, with their streams,
 * cost more per request than everything else the gateway does for a small forwarded request. So
 * connections start here instead: Node's own parser reads each head (in as many reads as it
 * takes), and a forwarded request gets a LeanRequest, or a LeanBodyRequest for a Content-Length
 * or chunked body, and a LeanResponse written straight to the socket; so does a GET or HEAD of a
 * --static file the static cache holds. Every chunked request body a worker gets is decoded here,
 * for uwsgi upstreams too: strictly, where llhttp lets through chunk sizes up to 2^64 - 1. Anything
 * else (an Expect other than 100-continue, an upgrade, a static file not cached or asked for by
 * range or validator, a method not forwarded, a head over a limit, a parse error, the server
 * closing) hands the connection to node:http with the unparsed bytes, and node:http and fastify
 * answer it as they would have, and keep the connection.
 */
export class LeanFront implements LeanHost {
  readonly maxHeaderSize: number;
  closing = false;
  draining = false;
  private readonly server: Server;
  private readonly nodeListener: (socket: Socket) => void;
  private readonly options: LeanFrontOptions;
  readonly guard: ConnectionGuard<LeanConnection>;

  constructor(server: Server, nodeListener: (socket: Socket) => void, options: LeanFrontOptions) {
    this.server = server;
    this.nodeListener = nodeListener;
    this.options = options;
    this.guard = new ConnectionGuard<LeanConnection>(
      options.limits,
      options.log,
      (conn) => {
        conn.abandon();
        headTimedOut(conn.socket, options.log, options.access);
      },
      options.elsewhere,
    );
    this.maxHeaderSize = (server as Server & { maxHeaderSize?: number }).maxHeaderSize ?? defaultMaxHeaderSize;
  }

  get keepAliveLine(): string {
    const seconds = Math.floor(this.server.keepAliveTimeout / 1000);
    return seconds > 0 ? `Keep-Alive: timeout=${seconds}\r\n` : '';
  }

  connect(socket: Socket): void {
    if (this.guard.admit(socket)) this.guard.add(new LeanConnection(socket, this));
  }

  accept(socket: Socket, head: ParsedHead): LeanIncoming | null {
    const o = this.options;
    if (this.closing || head.upgrade || !o.methods.has(head.method) || head.versionMajor !== 1) return null;
    // An absolute-form target becomes a path and a Host here as on node:http's path; a refused one
    // (and `*`) is answered there.
    if (head.url.charCodeAt(0) !== 47 && (toOriginForm(head) !== null || head.url.charCodeAt(0) !== 47)) return null;
    let isStatic = false;
    for (const prefix of o.staticPrefixes) if (head.url.startsWith(prefix)) isStatic = true;
    // Under a mount only what the static cache may answer: GET and HEAD (it checks the rest).
    if (isStatic && (o.staticCache === null || (head.method !== 'GET' && head.method !== 'HEAD'))) return null;
    const raw = head.rawHeaders;
    let host = false;
    let bodyLength = 0;
    let chunked = false;
    let expect: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const n = raw[i]!.length;
      if (n !== 4 && n !== 6 && n !== 14 && n !== 17) continue;
      const name = raw[i]!.toLowerCase();
      if (name === 'host') host = true;
      // llhttp has checked the number (digits only, one value); a body past --body-limit is refused below.
      else if (name === 'content-length') bodyLength = Number(raw[i + 1]);
      else if (name === 'expect') expect = raw[i + 1];
      // checkHead (below) refuses one whose last coding is not chunked; llhttp, one with a Content-Length.
      else if (name === 'transfer-encoding') chunked = true;
    }
    const hasBody = chunked || bodyLength > 0;
    // As node:http: Expect counts in HTTP/1.1 only; 100-continue is answered at once (below, for a
    // request with a body), anything else gets node:http's 417.
    const expectContinue = expect !== undefined && head.versionMinor === 1;
    if (expect !== undefined && expectContinue && (!hasBody || !CONTINUE_EXPECTATION.test(expect))) return null;
    // node:http refuses an HTTP/1.1 request without Host (requireHostHeader): it answers that one.
    if (!host && head.versionMinor === 1) return null;
    // A chunked body is always decoded here (its chunk sizes checked strictly, see LeanConnection), for a uwsgi upstream too: the request is a stream.
    if (isStatic ? hasBody : !chunked && !o.allNative()) return null;
    const req: LeanIncoming = hasBody
      ? new LeanBodyRequest(socket, head.method, head.url, raw, head.versionMajor, head.versionMinor, chunked ? null : bodyLength, expectContinue)
      : new LeanRequest(socket, head.method, head.url, raw, head.versionMajor, head.versionMinor, isStatic);
    // The limits' refusals (their codes, their log lines) are answered on node:http's path.
    return checkHead(req, o.limits) === null ? req : null;
  }

  noteAccess(req: LeanIncoming, res: LeanResponse): void {
    this.options.access?.note(req, res);
  }

  answer(req: LeanIncoming, res: LeanResponse): boolean {
    if (!req.isStatic) {
      this.options.forward(req, res);
      return true;
    }
    // A file not in the cache (or changed, or asked for by range or validator): fastify's path.
    return this.options.staticCache!.tryServe(req, res);
  }

  /**
   * node:http's parser takes the socket's reads over (it consumes the handle), and then starts and
   * stops reading through the socket's 'pause' and 'resume' events. The lean connection read
   * through the socket's stream until now, and that stream still has a read of its own scheduled
   * (after the chunk being handled): run now, it would restart reading after node:http stopped it
   * for backpressure, and an upload would pile up in memory. So the socket is paused, the hand-off
   * waits a turn, takes what the stream buffered meanwhile, and feeds node:http the unparsed bytes
   * once the socket is flowing again, as it is on node:http's own connections.
   */
  handToNode(socket: Socket, unparsed: Buffer | null): void {
    this.guard.handOff(socket);
    socket.pause();
    // The client may half-close meanwhile (a request, then FIN or a reset): node:http must hear of it.
    let ended = false;
    const onEnd = (): void => {
      ended = true;
    };
    socket.once('end', onEnd);
    setImmediate(() => {
      socket.off('end', onEnd);
      if (socket.destroyed) return;
      const chunks = unparsed !== null && unparsed.length > 0 ? [unparsed] : [];
      for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) chunks.push(chunk);
      this.nodeListener.call(this.server, socket);
      socket.resume();
      // After the resume (a tick away): node:http's parser must see these bytes first.
      process.nextTick(() => {
        if (socket.destroyed) return;
        if (chunks.length > 0) socket.emit('data', chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
        if (ended) socket.emit('end');
      });
    });
  }

  get requestTimeoutMs(): number {
    return this.options.limits.requestTimeoutMs;
  }

  get bodyLimit(): number {
    return this.options.limits.bodyLimit;
  }

  /**
   * A chunked body that breaks the grammar (answered 400 with its code unless a response has
   * begun), or passes --body-limit: cut at once, as node:http's path does; the forwarder hears of it
   * from the close and tells the worker.
   */
  bodyFailed(socket: Socket, res: LeanResponse | null, req: LeanBodyRequest, err: PorticoError): void {
    const o = this.options;
    o.log.error(err.code, `${req.method} ${req.url.slice(0, 256)}: ${err.message}; connection closed`);
    // Past --body-limit, only the close (as on node:http's path): the body may still be coming, and
    // a 413 written now would be lost to the reset that unread input causes.
    if (err.code !== 'PORTICO_ERR_BODY_TOO_LARGE' && res !== null && !res.headersSent && socket.writable) {
      socket.write(clientErrorAnswer(err.code));
      o.access?.noteRaw(socket, err.status);
    }
    socket.destroy();
  }

  /** A body that stopped coming: what node:http's --request-timeout does (408 unless answered already, and a close). */
  bodyTimedOut(socket: Socket, res: LeanResponse): void {
    this.options.log.error('PORTICO_ERR_REQUEST_TIMEOUT', `${socket.remoteAddress ?? 'unix'}: ERR_HTTP_REQUEST_TIMEOUT the body did not arrive within --request-timeout`);
    if (!res.headersSent && socket.writable) socket.write(clientErrorAnswer('PORTICO_ERR_REQUEST_TIMEOUT'));
    socket.destroy();
  }

  forget(conn: LeanConnection): void {
    this.guard.remove(conn);
  }

  /**
   * Each connection ends after its next response (Connection: close) instead of being closed
   * while idle, which a client may be reusing that very moment.
   */
  drain(): void {
    this.draining = true;
  }

  close(): void {
    this.closing = true;
    for (const conn of this.guard.lean) conn.close();
  }
}
