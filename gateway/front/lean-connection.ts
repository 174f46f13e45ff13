import type { Socket } from 'node:net';
import { ChunkedDecoder } from '../../protocol/http/chunked-decoder.js';
import { PorticoError } from '../../common/errors.js';
import { Waiting, type ConnectionGuard, type GuardedConnection } from './connection-guard.js';
import { consumableHandle, HTTPParser, markConsumed, PARSER_METHODS, STOP_AFTER_HEAD, type HeadersCompleteCallback, type HttpParser } from './http-parser.js';
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
  /** Serving on, but every response says Connection: close (a gateway process being replaced). */
  readonly draining: boolean;
  readonly requestTimeoutMs: number;
  /** Times the connection out while it waits for a request, and may close it to make room for another. */
  readonly guard: ConnectionGuard<LeanConnection>;
  /** A request the lean path takes, or null: node:http must answer it (and the connection's rest). */
  accept(socket: Socket, head: ParsedHead): LeanIncoming | null;
  /** Forwards `req`, or answers it from the static cache; false: nothing was written, node:http must answer it. */
  answer(req: LeanIncoming, res: LeanResponse): boolean;
  /** --body-limit: a chunked body past it closes the connection (as on node:http's path, see http-limits.ts). */
  readonly bodyLimit: number;
  /** --request-timeout passed with the body still incomplete. */
  bodyTimedOut(socket: Socket, res: LeanResponse): void;
  /** A chunked body broke the grammar, or passed --body-limit: answered if it can be, and the connection closed. */
  bodyFailed(socket: Socket, res: LeanResponse | null, req: LeanBodyRequest, err: PorticoError): void;
  /** Gives the connection to node:http, with the bytes it has not parsed yet (from a whole head on). */
  handToNode(socket: Socket, unparsed: Buffer | null): void;
  forget(conn: LeanConnection): void;
  /** A response of the lean path is complete: its access line (gateway/front/access-log.ts). */
  noteAccess(req: LeanIncoming, res: LeanResponse): void;
}

/** Pipelined bytes held while a response is being made; past this the socket stops reading. */
const QUEUE_LIMIT = 64 * 1024;
/**
 * A head arriving in pieces is kept until it is whole (for node:http, should it get the request).
 * llhttp bounds its header bytes (maxHeaderSize); what it skips unbounded is empty lines before a
 * request line: past this, the pieces go to node:http as they are.
 */
const PIECES_SLACK = 64 * 1024;
const resource = {};
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

/**
 * One client connection on the lean front: Node's parser, one request at a time. Each head is
 * parsed, in as many reads as it comes in, and the parser stops right after it; a body is read
 * here (a Content-Length one counted, a chunked one decoded strictly by protocol/http/chunked-decoder.ts,
 * which refuses what llhttp would let through, such as a chunk size of 2^64 - 1). A head the front
 * does not take, or a parse error, hands the connection over to node:http with the bytes from that
 * head on, so node:http answers it exactly as it would have (its errors, static files, routes)
 * and keeps the connection from then on. Requests pipelined behind one in progress wait, and are
 * parsed once its response is complete.
 *
 * While the connection waits for a head, the parser reads the socket's handle itself, as
 * node:http's does (consume()): a read holding one whole head costs no Buffer, no stream push and
 * no 'data' event, only the head's callback and kOnExecute's count. A body, bytes pipelined behind
 * a response still being made, and anything handed to node:http take the socket's own reads
 * (parse(), on 'data' events), until the connection waits for a head again.
 */
export class LeanConnection implements ResponseOwner, GuardedConnection {
  readonly socket: Socket;
  readonly keepAliveLine: string;
  waiting = Waiting.No;
  waitingSince = 0;
  waitPrev: GuardedConnection | null = null;
  waitNext: GuardedConnection | null = null;
  private readonly host: LeanHost;
  private readonly parser: HttpParser;
  private current: LeanResponse | null = null;
  /** The request `current` answers, for its access line. */
  private currentReq: LeanIncoming | null = null;
  private queued: Buffer | null = null;
  /** The request whose body is still arriving; of a Content-Length one, how much is left. */
  private body: LeanBodyRequest | null = null;
  private bodyLeft = 0;
  /** The decoder of a chunked body (null for a Content-Length one), and the bytes it has given so far. */
  private chunks: ChunkedDecoder | null = null;
  private chunkedSize = 0;
  private bodyTimer: NodeJS.Timeout | null = null;
  private head: ParsedHead | null = null;
  /** The reads a head came in so far, while it is not whole (null: no head begun, or it came in one read). */
  private headPieces: Buffer[] | null = null;
  private headPiecesSize = 0;
  /** Fields and target the parser passed on before the head was whole (over 32 fields: node:http's parser flushes them). */
  private flushedHeaders: string[] | null = null;
  private flushedUrl = '';
  /** No more requests on this connection: its last response says Connection: close. */
  private ending = false;
  private detached = false;
  /** The handle the parser reads while it consumes it (null: the socket's 'data' events bring the bytes). */
  private consuming: ReturnType<typeof consumableHandle> = null;
  /** socket.bytesRead when the parser last reported a read: how long each consumed read was. */
  private readMark = 0;
  /** A copy of the consumed read, made once, when something needs its bytes. */
  private readCopy: Buffer | null = null;

  constructor(socket: Socket, host: LeanHost) {
    this.socket = socket;
    this.host = host;
    this.keepAliveLine = host.keepAliveLine;
    this.parser = new HTTPParser();
    const onHeadersComplete: HeadersCompleteCallback = (major, minor, headers, method, url, _status, _message, upgrade, keepAlive) => {
      let rawHeaders = headers ?? [];
      let target = url ?? '';
      const flushed = this.flushedHeaders;
      if (flushed !== null) {
        rawHeaders = rawHeaders.length > 0 ? flushed.concat(rawHeaders) : flushed;
        target = this.flushedUrl + target;
        this.flushedHeaders = null;
        this.flushedUrl = '';
      }
      this.head = { method: PARSER_METHODS[method] ?? '', url: target, rawHeaders, versionMajor: major, versionMinor: minor, upgrade, keepAlive };
      return STOP_AFTER_HEAD;
    };
    this.parser[HTTPParser.kOnHeadersComplete] = onHeadersComplete;
    this.parser[HTTPParser.kOnHeaders] = (headers: string[], url: string) => {
      this.flushedHeaders = this.flushedHeaders === null ? headers : this.flushedHeaders.concat(headers);
      this.flushedUrl += url;
    };
    this.parser[HTTPParser.kOnBody] = noop;
    this.parser[HTTPParser.kOnMessageComplete] = noop;
    this.parser[HTTPParser.kOnExecute] = this.onExecute;
    socket.setNoDelay(true);
    // Flowing: the handle reads, into the parser while it consumes, else into 'data'.
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
    socket.on('error', noop);
    this.consume();
  }

  /** The parser reads the handle from the next read on, if the connection waits for a head with nothing held. */
  private consume(): void {
    if (this.consuming !== null || this.detached || this.current !== null || this.body !== null || this.queued !== null || this.ending) return;
    const socket = this.socket;
    if (socket.isPaused() || socket.readableLength > 0) return;
    const handle = consumableHandle(socket);
    if (handle === null) return;
    if (this.headPieces === null) this.freshHead();
    this.parser.consume(handle);
    markConsumed(handle, true);
    this.consuming = handle;
    this.readMark = socket.bytesRead;
  }

  /** The socket's own reads again. */
  private unconsume(): void {
    const handle = this.consuming;
    if (handle === null) return;
    this.consuming = null;
    this.parser.unconsume();
    markConsumed(handle, false);
  }

  /**
   * The parser read and parsed a chunk of the socket itself (consume mode): up to the end of a
   * head, or all of it (a head in pieces), or an Error. It is handled as parse() handles what
   * execute() returns; bytes past the head are parsed from a copy of the read.
   */
  private readonly onExecute = (ret: number | Error): void => {
    const total = this.socket.bytesRead;
    const length = total - this.readMark;
    this.readMark = total;
    this.readCopy = null;
    if (this.current !== null || this.ending || this.detached) {
      // Pipelined behind a response still being made (or after the last one): whatever the parser
      // made of it is dropped, and the read waits as bytes, on the socket's own reads from now on.
      this.head = null;
      const bytes = this.parser.getCurrentBuffer();
      this.unconsume();
      this.onData(bytes);
      return;
    }
    const rest = this.step(ret, null, length);
    this.readCopy = null;
    if (rest !== null) this.parse(rest);
    // The next read starts a new head, unless this one left a head in pieces (the parser keeps its place).
    if (this.consuming !== null && this.headPieces === null) this.freshHead();
  };

  private freshHead(): void {
    this.parser.initialize(HTTPParser.REQUEST, resource, this.host.maxHeaderSize, HTTPParser.kLenientNone);
    this.head = null;
    this.flushedHeaders = null;
    this.flushedUrl = '';
  }

  /** `buf`, or (null) the read the parser consumed, copied once. */
  private bytesOf(buf: Buffer | null): Buffer {
    return buf ?? (this.readCopy ??= this.parser.getCurrentBuffer());
  }

  mayKeepAlive(): boolean {
    return !this.ending && !this.host.closing && !this.host.draining;
  }

  responseDone(res: LeanResponse, keep: boolean): void {
    if (this.currentReq !== null) this.host.noteAccess(this.currentReq, res);
    this.current = null;
    this.currentReq = null;
    // 'finish' and 'close' come on the next tick, as node:http's; nobody listening, no tick.
    if (res.listenerCount('finish') > 0 || res.listenerCount('close') > 0) process.nextTick(finishResponse, res);
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
    else if (this.body === null) {
      this.host.guard.rest(this);
      this.consume();
    }
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
    for (;;) {
      // A new head: the parser starts afresh (a head in pieces continues where it stopped).
      if (this.headPieces === null) this.freshHead();
      const rest = this.step(this.parser.execute(buf), buf, buf.length);
      if (rest === null) return;
      buf = rest;
    }
  }

  /**
   * What one run of the parser over `length` bytes came to: `buf`, or (null) the read it consumed
   * itself, whose bytes are copied only when they are needed. Returns the bytes after a head that
   * was answered at once, to be parsed next, or null.
   */
  private step(consumed: number | Error, buf: Buffer | null, length: number): Buffer | null {
    const pieces = this.headPieces;
    const head = this.head as ParsedHead | null;
    // Let go of it at once: a connection outlives many scavenges, and a head it still pointed
    // to after its request survived each of them (10,000 idle connections: 250 KB per scavenge).
    this.head = null;
    if (typeof consumed !== 'number') {
      this.handOff(this.fromHeadStart(this.bytesOf(buf)));
      return null;
    }
    if (head === null) {
      this.headGoesOn(this.bytesOf(buf));
      return null;
    }
    if (this.waiting !== Waiting.No) this.host.guard.busy(this);
    // From the head's first byte, should node:http have to answer it (null: this read's, made when needed).
    const unparsed = pieces === null ? null : this.fromHeadStart(this.bytesOf(buf));
    this.headPieces = null;
    const req = this.host.accept(this.socket, head);
    if (req === null) {
      this.handOff(unparsed ?? this.bytesOf(buf));
      return null;
    }
    const res = new LeanResponse(this, req.method === 'HEAD', head.versionMinor === 0, head.keepAlive);
    this.current = res;
    this.currentReq = req;
    const hasBody = req.bodyLength !== 0;
    // Before anything can answer: the final response must come after it (node:http's order).
    if (hasBody && (req as LeanBodyRequest).expectContinue) this.socket.write(CONTINUE);
    if (!head.keepAlive) this.ending = true;
    if (!this.host.answer(req, res)) {
      this.current = null;
      this.currentReq = null;
      this.ending = false;
      this.handOff(unparsed ?? this.bytesOf(buf));
      return null;
    }
    if (hasBody) {
      // The body comes on the socket's own reads (feedBody), whatever the app did meanwhile.
      this.unconsume();
      this.startBody(req as LeanBodyRequest);
      if (consumed < length) this.feedBody(this.bytesOf(buf).subarray(consumed));
      return null;
    }
    if (consumed >= length || this.ending) return null;
    const rest = this.bytesOf(buf).subarray(consumed);
    if (this.current !== null) {
      this.queued = rest;
      this.unconsume();
      return null;
    }
    return rest;
  }

  /**
   * The head is not whole yet: the parser keeps its place for the next read (as node:http's does),
   * and the guard answers 408 if it is still not whole --headers-timeout after it began (a first
   * head: after the accept, since a client that waited before sending must not get twice as long).
   */
  private headGoesOn(buf: Buffer): void {
    if (this.headPieces === null) {
      this.headPieces = [buf];
      this.headPiecesSize = buf.length;
      this.host.guard.headArriving(this);
      return;
    }
    this.headPieces.push(buf);
    this.headPiecesSize += buf.length;
    if (this.headPiecesSize > this.host.maxHeaderSize + PIECES_SLACK) this.handOff(this.fromHeadStart(null));
  }

  /** The head's earlier pieces, then `buf`. */
  private fromHeadStart(buf: Buffer | null): Buffer {
    const pieces = this.headPieces;
    if (pieces === null) return buf!;
    this.headPieces = null;
    if (buf !== null) pieces.push(buf);
    return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
  }

  private startBody(req: LeanBodyRequest): void {
    this.body = req;
    if (req.bodyLength === null) {
      this.chunkedSize = 0;
      this.chunks = new ChunkedDecoder({ onData: this.onChunkData, onEnd: noop, onError: this.onChunkError });
    } else this.bodyLeft = req.bodyLength;
    this.bodyTimer = setTimeout(this.onBodyTimeout, this.host.requestTimeoutMs);
  }

  /** Body bytes go to the request (the socket pauses while its reader is behind); what follows is the next head. */
  private feedBody(chunk: Buffer): void {
    const body = this.body!;
    let n: number;
    const chunks = this.chunks;
    if (chunks !== null) {
      n = chunks.push(chunk);
      // A bad chunk: the connection is closing (onChunkError); the rest is never parsed.
      if (this.body === null || chunks.failed) return;
      if (!chunks.done) return;
    } else {
      n = Math.min(chunk.length, this.bodyLeft);
      this.bodyLeft -= n;
      const more = body.push(n === chunk.length ? chunk : chunk.subarray(0, n));
      if (this.bodyLeft > 0) {
        if (!more) this.socket.pause();
        return;
      }
    }
    this.endBody();
    if (n === chunk.length || this.ending) {
      if (this.current === null && !this.ending) {
        this.host.guard.rest(this);
        this.consume();
      }
      return;
    }
    const rest = chunk.subarray(n);
    if (this.current === null) return this.parse(rest);
    this.queued = rest;
    if (rest.length > QUEUE_LIMIT) this.socket.pause();
  }

  private readonly onChunkData = (data: Buffer): void => {
    const body = this.body!;
    this.chunkedSize += data.length;
    if (this.chunkedSize > this.host.bodyLimit) {
      this.chunks!.abandon();
      return this.host.bodyFailed(this.socket, this.current, body, new PorticoError('PORTICO_ERR_BODY_TOO_LARGE', `body over --body-limit ${this.host.bodyLimit} bytes`));
    }
    if (!body.push(data)) this.socket.pause();
  };

  private readonly onChunkError = (err: PorticoError): void => {
    this.host.bodyFailed(this.socket, this.current, this.body!, err);
  };

  private endBody(): void {
    const body = this.body!;
    this.body = null;
    this.chunks = null;
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

  /** Nothing more is read here (the guard timed its head out and answers): listeners and parser go. */
  abandon(): void {
    this.detach();
    // Errors still come until the socket closes; unheard, one would throw.
    this.socket.on('error', noop);
  }

  private handOff(unparsed: Buffer | null): void {
    this.detach();
    this.host.handToNode(this.socket, unparsed);
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
    this.unconsume();
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
