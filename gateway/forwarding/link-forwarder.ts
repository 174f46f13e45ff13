import { isPorticoError, type ErrorCode, type PorticoError } from '../../common/errors.js';
import { FrameType, queueStreamRequest } from '../../protocol/link/index.js';
import { statusHasNoBody } from '../../protocol/http/http-response.js';
import { discardUnread, endAtLength, errorDetail, failUpstream, writeWorkerHead, type ForwardContext } from './forward-common.js';
import { requestHasBody, varsForHttpRequest } from './http-request-vars.js';
import type { LinkListener, NativeLink, NativeLinkPool } from '../link/link-pool.js';
import type { Upstream } from './upstream-pool.js';
import type { ForwardedRequest, ForwardedResponse } from './forward-types.js';
import { StreamFlow } from './stream-flow.js';

export type StreamOutcome = 'done' | 'retry';

/** RFC 9110 §9.2.2: methods whose repetition has the same effect as running them once. */
const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/**
 * One request as a stream of a native link (docs/protocol.md), its frames queued into the link's
 * batch for this turn. Bodies flow both ways within the stream's windows (stream-flow.ts), so a
 * slow client holds back only its own stream. `done` hears 'retry' (a callback, not a promise:
 * the gateway's hot path allocates none) when the request may go out again untouched: the
 * worker's GOAWAY says it never took the stream, or (idempotent methods only) the link closed
 * before any answer or body byte: a reused link the worker closed while it sat idle (a restart),
 * its FIN crossing our request. Never a POST (the same silence follows a worker that read the
 * request and died), and never after --harakiri killed the worker (`up.failCode`).
 */
export class GatewayStream extends StreamFlow implements LinkListener {
  private readonly req: ForwardedRequest;
  private readonly res: ForwardedResponse;
  private readonly ctx: ForwardContext;
  private readonly up: Upstream;
  private readonly pool: NativeLinkPool;
  private readonly link: NativeLink;
  private readonly resolve: (outcome: StreamOutcome) => void;
  /** The client has its answer, its error, or has gone. */
  private clientDone = false;
  /** HEAD, 204 and 304 answers carry no body to the client, whatever the app wrote. */
  private skipBody: boolean;
  /** A byte of the client's body went out, or a byte of the answer came: no retry any more. */
  private committed = false;
  /** The head's Content-Length (-1: none) and the body bytes passed on against it. */
  private length = -1;
  private received = 0;
  /** A Set-Cookie the gateway adds to the answer (a socket.io session's sticky cookie), or null. */
  private readonly setCookie: string | null;

  constructor(req: ForwardedRequest, res: ForwardedResponse, ctx: ForwardContext, up: Upstream, pool: NativeLinkPool, link: NativeLink, resolve: (o: StreamOutcome) => void, setCookie: string | null) {
    super(link.writer);
    this.setCookie = setCookie;
    this.req = req;
    this.res = res;
    this.ctx = ctx;
    this.up = up;
    this.pool = pool;
    this.link = link;
    this.resolve = resolve;
    this.skipBody = req.method === 'HEAD';
  }

  start(buffered: Buffer | null): void {
    const { req, res } = this;
    this.id = this.link.openStream(this);
    // CONTENT_LENGTH is the client's header, as on the uwsgi link; without one (a chunked body) it
    // stays empty, the length is unknown and REQUEST_END ends the body: nothing is buffered.
    const vars = varsForHttpRequest(req, this.ctx, buffered ? buffered.length : undefined);
    const noBody = !requestHasBody(req);
    try {
      this.queueHead(vars, noBody, buffered);
    } catch (err) {
      // Headers within the HTTP limits can still make a vars block past the uwsgi format's 64 KiB
      // (PORTICO_ERR_VARS_TOO_BIG): nothing was queued, so the client gets its status.
      if (!isPorticoError(err)) throw err;
      this.fail(err.code, errorDetail(err));
      return this.responseOver();
    }
    res.on('close', this.onResClose);
    this.link.awaitHead(this.id, this, this.ctx.upstreamTimeoutMs);
  }

  private queueHead(vars: ReturnType<typeof varsForHttpRequest>, noBody: boolean, buffered: Buffer | null): void {
    const { req, writer, id } = this;
    if (!buffered && (noBody || req.readableEnded)) {
      this.requestOpen = false;
      // A body-less request is not resumed: node:http discards what nobody read when the
      // response finishes, and resuming costs a request a round of stream machinery.
      queueStreamRequest(writer, id, vars, true);
    } else if (buffered) {
      this.requestOpen = false;
      queueStreamRequest(writer, id, vars, false);
      writer.body(FrameType.RequestBody, id, buffered);
      writer.frame(FrameType.RequestEnd, id);
      if (noBody) req.resume();
    } else {
      queueStreamRequest(writer, id, vars, false);
      req.on('data', this.onData);
      req.on('end', this.onEnd);
      // After a retry `req` is paused, and a new 'data' listener does not undo an explicit pause.
      req.resume();
    }
  }

  frame(type: FrameType, payload: Buffer): void {
    switch (type) {
      case FrameType.ResponseHead:
        this.committed = true;
        return this.head(payload);
      case FrameType.ResponseBody:
        return this.body(payload);
      case FrameType.ResponseEnd:
        if (!this.clientDone) {
          this.res.end();
          this.settle();
        }
        return this.responseOver();
      case FrameType.ResponseAbort:
        this.committed = true;
        this.fail('PORTICO_ERR_UPSTREAM_ABORTED', `the worker aborted the response (${payload.toString('utf8') || 'no reason'})`);
        return this.responseOver();
      case FrameType.RequestCredit:
        return this.requestCredited(payload, this.req);
      default:
        return;
    }
  }

  protected linkLost(err: PorticoError): void {
    if (IDEMPOTENT.has(this.req.method ?? '') && this.mayResend()) return this.retry();
    this.stopRequestBody();
    this.fail('PORTICO_ERR_UPSTREAM_ABORTED', err.message);
  }

  /**
   * An idempotent stream that got no frame yet may go out again (retry() still refuses one whose
   * body had begun): on a link the worker may have closed while it sat idle, or, once the master
   * killed the worker for --harakiri, if it was sent after the stuck request began. One sent
   * before may be that request (the gateway sends before the worker begins), so it gets the 504.
   */
  private mayResend(): boolean {
    const since = this.up.stuckSince;
    if (since === undefined) return this.link.reused && !this.up.failCode;
    // awaitHead set the deadline when the stream was queued: that is its send time, plus the timeout.
    return this.headDeadline - this.ctx.upstreamTimeoutMs > since;
  }

  refused(): void {
    // GOAWAY: the worker never saw this stream, whatever its method.
    this.responseOpen = false;
    this.retry();
  }

  private head(payload: Buffer): void {
    if (this.clientDone) return;
    this.link.headDone(this.id);
    let head;
    try {
      head = this.link.decodeHead(payload);
    } catch (err) {
      if (!isPorticoError(err)) throw err;
      this.fail(err.code, err.message);
      return this.cancel('undecodable response head');
    }
    if (statusHasNoBody(head.status)) this.skipBody = true;
    this.length = head.length;
    // A copy: a decoded head's headers may be shared with other responses.
    if (this.setCookie !== null) head = { ...head, headers: head.headers.concat('Set-Cookie', this.setCookie) };
    const refused = writeWorkerHead(this.res, head);
    if (refused !== null) {
      this.fail('PORTICO_ERR_BAD_RESPONSE', refused);
      this.cancel('response head refused');
    }
  }

  private body(payload: Buffer): void {
    this.committed = true;
    if (this.length >= 0 && !this.skipBody && !this.clientDone) {
      const room = this.length - this.received;
      if (payload.length > room) {
        endAtLength(this.res, this.ctx, this.req, this.up, payload.subarray(0, room), this.length);
        this.settle();
        return this.cancel('response body past its Content-Length');
      }
      this.received += payload.length;
    }
    // Body payloads are subarrays of the socket's chunks, never reused: safe to queue.
    this.passResponseBytes(payload, this.clientDone || this.skipBody ? null : this.res);
  }

  private readonly onData = (chunk: Buffer): void => {
    this.committed = true;
    this.sendRequestBytes(chunk, this.req);
  };

  private readonly onEnd = (): void => {
    if (!this.requestOpen) return;
    this.stopRequestBody();
    this.writer.frame(FrameType.RequestEnd, this.id);
  };

  /** Called by the link's sweep once headDeadline has passed without a head. */
  headTimedOut(): void {
    this.fail('PORTICO_ERR_UPSTREAM_TIMEOUT', `no response head within ${this.ctx.upstreamTimeoutMs / 1000} s`);
    // REQUEST_ABORT is what tells the worker to abort the app's request.
    this.cancel('gave up waiting for the head');
  }

  private readonly onResClose = (): void => {
    if (this.res.writableFinished || !this.responseOpen || this.clientDone) return;
    // The client went away: the worker hears REQUEST_ABORT and the app its abort signal.
    this.settle();
    this.cancel('client went away');
  };

  /** Ends the stream from our side: REQUEST_ABORT, and later frames for it are dropped. */
  private cancel(reason: string): void {
    if (!this.responseOpen) return;
    this.queueAbort(reason);
    this.responseOver();
  }

  private responseOver(): void {
    this.responseOpen = false;
    this.link.closeStream(this.id);
    this.stopRequestBody();
    this.pool.release(this.link);
  }

  private stopRequestBody(): void {
    if (!this.requestOpen) return;
    this.requestOpen = false;
    this.req.off('data', this.onData);
    this.req.off('end', this.onEnd);
    discardUnread(this.req);
  }

  private settle(outcome: StreamOutcome = 'done'): void {
    if (this.clientDone) return;
    this.clientDone = true;
    this.link.headDone(this.id);
    this.res.off('close', this.onResClose);
    this.resolve(outcome);
  }

  private fail(code: ErrorCode, detail: string): void {
    if (this.clientDone) return;
    failUpstream(this.res, this.ctx, this.req, this.up, code, detail);
    this.settle();
  }

  /** Nothing of the request reached an app and the client has no answer yet: it may go again. */
  private retry(): void {
    if (this.clientDone) return;
    if (this.committed) {
      this.stopRequestBody();
      return this.fail('PORTICO_ERR_UPSTREAM_ABORTED', 'the worker went away before it answered');
    }
    if (this.requestOpen) {
      this.requestOpen = false;
      this.req.off('data', this.onData);
      this.req.off('end', this.onEnd);
      // Flowing with no 'data' listener would drop the body the next attempt must send.
      this.req.pause();
    }
    this.settle('retry');
  }
}
