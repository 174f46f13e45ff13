import type { Socket } from 'node:net';
import { Waiting, type ConnectionGuard, type GuardedConnection } from './connection-guard.js';
import { HTTPParser, PARSER_METHODS, STOP_AFTER_HEAD, type HeadersCompleteCallback, type HttpParser } from './http-parser.js';
import type { LeanBodyRequest, LeanIncoming } from './lean-request.js';
import { LeanResponse, type ResponseOwner } from './lean-response.js';

/** A request head as the parser reported it, before the front decides who answers it. */
export interface ParsedHead {
  method: string;
  url: string;
  rawHeaders: string[];
  versionMajor: number;
  versionMinor: number;
  upgrade: boolean;
  keepAlive: boolean;
}

/** What a LeanConnection asks of the front that made it (a LeanFront). */
export interface LeanHost {
  readonly maxHeaderSize: number;
  readonly keepAliveLine: string;
  readonly closing: boolean;
  readonly requestTimeoutMs: number;
  /** Times the connection out while it waits for a request, and may close it to make room for another. */
  readonly guard: ConnectionGuard<LeanConnection>;
  /** A request the lean path takes, or null: node:http must answer it (and the connection's rest). */
  accept(socket: Socket, head: ParsedHead): LeanIncoming | null;
  /** Forwards `req`, or answers it from the static cache; false: nothing was written, node:http must answer it. */
  answer(req: LeanIncoming, res: LeanResponse): boolean;
  /** --request-timeout passed with the body still incomplete. */
  bodyTimedOut(socket: Socket, res: LeanResponse): void;
  /**
   * Gives the connection to node:http, with the bytes it has not parsed yet; `headSince`: the
   * connection's first head is still arriving, and has been since then (its accept).
   */
  handToNode(socket: Socket, unparsed: Buffer | null, headSince: number | null): void;
  forget(conn: LeanConnection): void;
  /** A response of the lean path is complete: its access line (gateway/access-log.ts). */
  noteAccess(req: LeanIncoming, res: LeanResponse): void;
}

/** Pipelined bytes held while a response is being made; past this the socket stops reading. */
const QUEUE_LIMIT = 64 * 1024;
const resource = {};
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

/**
 * One client connection on the lean front: Node's parser, one request at a time. Each head is
 * parsed and the parser stops right after it (a taken request has no body); a head the front does
 * not take, a parse error, or a head split across reads hands the connection over to node:http
 * with the bytes from that head on, so node:http answers it exactly as it would have (its errors,
 * its timeouts, bodies, static files) and keeps the connection from then on. Requests pipelined
 * behind one in progress wait, and are parsed once its response is complete.
 */
export class LeanConnection implements ResponseOwner, GuardedConnection {
  readonly socket: Socket;
  readonly keepAliveLine: string;
  waiting = Waiting.No;
  waitingSince = 0;
  private readonly host: LeanHost;
  private readonly parser: HttpParser;
  private current: LeanResponse | null = null;
  /** The request `current` answers, for its access line. */
  private currentReq: LeanIncoming | null = null;
  private queued: Buffer | null = null;
  /** The request whose Content-Length body is still arriving, and how much of it. */
  private body: LeanBodyRequest | null = null;
  private bodyLeft = 0;
  private bodyTimer: NodeJS.Timeout | null = null;
  private head: ParsedHead | null = null;
  /** The head came in more than one piece of headers (more than 32, or across reads). */
  private headersSplit = false;
  /** No more requests on this connection: its last response says Connection: close. */
  private ending = false;
  private detached = false;

  constructor(socket: Socket, host: LeanHost) {
    this.socket = socket;
    this.host = host;
    this.keepAliveLine = host.keepAliveLine;
    this.parser = new HTTPParser();
    const onHeadersComplete: HeadersCompleteCallback = (major, minor, headers, method, url, _status, _message, upgrade, keepAlive) => {
      this.head = { method: PARSER_METHODS[method] ?? '', url, rawHeaders: headers ?? [], versionMajor: major, versionMinor: minor, upgrade, keepAlive };
      return STOP_AFTER_HEAD;
    };
    this.parser[HTTPParser.kOnHeadersComplete] = onHeadersComplete;
    this.parser[HTTPParser.kOnHeaders] = () => {
      this.headersSplit = true;
    };
    this.parser[HTTPParser.kOnBody] = noop;
    this.parser[HTTPParser.kOnMessageComplete] = noop;
    socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
    socket.on('error', noop);
  }

  mayKeepAlive(): boolean {
    return !this.ending && !this.host.closing;
  }

  responseDone(res: LeanResponse, keep: boolean): void {
    if (this.currentReq !== null) this.host.noteAccess(this.currentReq, res);
    this.current = null;
    this.currentReq = null;
    process.nextTick(finishResponse, res);
    // Answered before the whole body came (as node:http does): the rest is read and dropped.
    if (this.body !== null) dump(this.body);
    if (!keep || this.ending) {
      this.ending = true;
      this.queued = null;
      this.socket.destroySoon();
      return;
    }
    if (this.queued !== null) process.nextTick(parseQueued, this);
    // Idle until the next request (a body still arriving keeps it busy: endBody says when it is done).
    else if (this.body === null) this.host.guard.rest(this);
  }

  /** The server is closing: an idle connection closes now, a busy one after its response. */
  close(): void {
    if (this.current === null && this.body === null) this.socket.destroy();
    else this.ending = true;
  }

  /** @internal bytes that waited for the last response. */
  parseQueued(): void {
    const queued = this.queued;
    if (queued === null || this.current !== null || this.body !== null || this.detached) return;
    this.queued = null;
    this.socket.resume();
    this.parse(queued);
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.body !== null) return this.feedBody(chunk);
    if (this.ending) return;
    if (this.current === null) return this.parse(chunk);
    this.queued = this.queued === null ? chunk : Buffer.concat([this.queued, chunk]);
    if (this.queued.length > QUEUE_LIMIT) this.socket.pause();
  };

  private parse(buf: Buffer): void {
    const parser = this.parser;
    // Nothing came before these bytes: a head they begin has been on its way since the accept.
    let firstHead = this.waiting === Waiting.Silent;
    for (;;) {
      if (this.waiting !== Waiting.No) this.host.guard.busy(this);
      parser.initialize(HTTPParser.REQUEST, resource, this.host.maxHeaderSize, HTTPParser.kLenientNone);
      this.head = null;
      this.headersSplit = false;
      const consumed = parser.execute(buf);
      const head = this.head as ParsedHead | null;
      if (typeof consumed !== 'number' || head === null || this.headersSplit) return this.handOff(buf, firstHead && typeof consumed === 'number' && head === null);
      const req = this.host.accept(this.socket, head);
      if (req === null) return this.handOff(buf);
      const res = new LeanResponse(this, req.method === 'HEAD', head.versionMinor === 0, head.keepAlive);
      this.current = res;
      this.currentReq = req;
      // Before anything can answer: the final response must come after it (node:http's order).
      if (req.bodyLength > 0 && (req as LeanBodyRequest).expectContinue) this.socket.write(CONTINUE);
      if (!head.keepAlive) this.ending = true;
      if (!this.host.answer(req, res)) {
        this.current = null;
        this.currentReq = null;
        this.ending = false;
        return this.handOff(buf);
      }
      if (req.bodyLength > 0) {
        this.startBody(req as LeanBodyRequest);
        if (consumed < buf.length) this.feedBody(buf.subarray(consumed));
        return;
      }
      if (consumed >= buf.length || this.ending) return;
      const rest = buf.subarray(consumed);
      if (this.current !== null) {
        this.queued = rest;
        return;
      }
      buf = rest;
      firstHead = false;
    }
  }

  private startBody(req: LeanBodyRequest): void {
    this.body = req;
    this.bodyLeft = req.bodyLength;
    this.bodyTimer = setTimeout(this.onBodyTimeout, this.host.requestTimeoutMs);
  }

  /** Body bytes go to the request (the socket pauses while its reader is behind); what follows is the next head. */
  private feedBody(chunk: Buffer): void {
    const body = this.body!;
    const n = Math.min(chunk.length, this.bodyLeft);
    this.bodyLeft -= n;
    const more = body.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    if (this.bodyLeft > 0) {
      if (!more) this.socket.pause();
      return;
    }
    this.endBody();
    if (n === chunk.length || this.ending) {
      if (this.current === null && !this.ending) this.host.guard.rest(this);
      return;
    }
    const rest = chunk.subarray(n);
    if (this.current === null) return this.parse(rest);
    this.queued = rest;
    if (rest.length > QUEUE_LIMIT) this.socket.pause();
  }

  private endBody(): void {
    const body = this.body!;
    this.body = null;
    this.clearBodyTimer();
    body.complete = true;
    body.push(null);
  }

  private clearBodyTimer(): void {
    if (this.bodyTimer === null) return;
    clearTimeout(this.bodyTimer);
    this.bodyTimer = null;
  }

  private readonly onBodyTimeout = (): void => {
    this.bodyTimer = null;
    if (this.body !== null && this.current !== null) this.host.bodyTimedOut(this.socket, this.current);
    else if (this.body !== null) this.socket.destroy();
  };

  private handOff(unparsed: Buffer | null, firstHeadPartial = false): void {
    this.detach();
    this.host.handToNode(this.socket, unparsed, firstHeadPartial ? this.waitingSince : null);
  }

  private detach(): void {
    if (this.detached) return;
    this.detached = true;
    const socket = this.socket;
    socket.off('data', this.onData);
    socket.off('end', this.onEnd);
    socket.off('close', this.onClose);
    socket.off('drain', this.onDrain);
    socket.off('error', noop);
    this.clearBodyTimer();
    this.parser.free();
    this.host.forget(this);
  }

  private readonly onEnd = (): void => {
    // A body cut short: node:http's parser calls that an error (HPE_INVALID_EOF_STATE), and the
    // gateway closes at once (see http-limits.ts).
    if (this.body !== null) {
      this.socket.destroy();
      return;
    }
    // As node:http does without allowHalfOpen: a request in progress is abandoned, and the
    // connection ends (its 'close' tells the response, and the forwarder tells the worker).
    this.ending = true;
    this.queued = null;
    if (this.socket.writable) this.socket.end();
  };

  private readonly onClose = (): void => {
    this.detach();
    const res = this.current;
    this.current = null;
    if (res !== null && !res.writableFinished) res.clientGone();
    // A body cut short ends without 'end' (its reader hears of it from the response's 'close').
    const body = this.body;
    this.body = null;
    body?.destroy();
  };

  private readonly onDrain = (): void => {
    this.current?.emit('drain');
  };
}

function noop(): void {}

/** node:http's IncomingMessage._dump: nobody reads the rest of this body; it is dropped as it comes. */
function dump(body: LeanBodyRequest): void {
  body.removeAllListeners('data');
  body.resume();
}

function finishResponse(res: LeanResponse): void {
  res.finished();
}

function parseQueued(conn: LeanConnection): void {
  conn.parseQueued();
}
