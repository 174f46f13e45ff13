import { PorticoError, isPorticoError, type ErrorCode } from '../common/errors.js';
import { FrameType, decodeResponseHead, writeAbort, writeBodilessRequest, writeBody, writeFrame, writeRequestHead } from '../protocol/native/index.js';
import { clientHead, discardUnread, endAtLength, failUpstream, writeWorkerHead, type ForwardContext } from './forward-common.js';
import { varsForHttpRequest } from './http-request-vars.js';
import type { NativeLink, NativeLinkPool } from './native-link-pool.js';
import type { Upstream } from './upstream-pool.js';
import type { ForwardedRequest, ForwardedResponse } from './forward-types.js';

/**
 * One request over a handshaken native link (docs/protocol.md): REQUEST_HEAD, the body streamed
 * in REQUEST_BODY frames as it arrives (a chunked upload needs no buffering: REQUEST_END ends it),
 * then the worker's RESPONSE_* frames streamed back with backpressure. The link goes back to the
 * pool once both sides sent their terminal frame; any failure drops it. Resolves when the
 * client's part is over (a link draining after a hang-up is the pool's business).
 * `buffered` is a body already read for a uwsgi upstream that failed before this one.
 *
 * Resolves 'retry' instead of failing when a reused link closed before any byte of the answer
 * and before any body byte was taken from the client: the worker closed it while it sat idle
 * (a restart, an idle close) and its FIN crossed our request, so the request may go out again
 * on a new connection as if this one never happened (nginx and undici do the same). Only an
 * idempotent method is sent again, as nginx does: the same silence also follows a worker that
 * read the request and then died, and a POST must not run twice. Never after the master killed
 * the worker for --harakiri (`up.failCode`): that request is what got it killed. The client
 * has not been answered then and `req` is left paused with its body unread.
 */
/** RFC 9110 §9.2.2: methods whose repetition has the same effect as running them once. */
export const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export function exchangeNative(
  req: ForwardedRequest, res: ForwardedResponse, ctx: ForwardContext, up: Upstream, pool: NativeLinkPool, link: NativeLink, buffered: Buffer | null,
): Promise<'done' | 'retry'> {
  const socket = link.socket;
  // Only bytes after this point answer this request: the previous one ended with its terminal frame.
  const readBefore = socket.bytesRead;
  const mayRetry = link.reused && IDEMPOTENT.has(req.method ?? '');
  return new Promise<'done' | 'retry'>((resolve) => {
    /** Our terminal frame (REQUEST_END or REQUEST_ABORT) is not sent yet. */
    let requestOpen = true;
    /** The worker's terminal frame (RESPONSE_END or RESPONSE_ABORT) has not come yet. */
    let responseOpen = true;
    /** The client has its answer, its error, or has gone: later frames only keep the link in step. */
    let clientDone = false;
    /** HEAD, 204 and 304 answers carry no body to the client, whatever the app wrote. */
    let skipBody = req.method === 'HEAD';
    /** The head's Content-Length (-1: none) and the body bytes passed on against it. */
    let length = -1;
    let received = 0;
    /** A byte of the client's body went out: it cannot be read again for a retry. */
    let bodyTaken = false;
    let drainTimer: NodeJS.Timeout | undefined;

    const settle = (): void => {
      if (clientDone) return;
      clientDone = true;
      clearTimeout(headTimer);
      res.off('drain', onResDrain);
      resolve('done');
    };
    const fail = (code: ErrorCode, detail: string): void => {
      if (clientDone) return;
      failUpstream(res, ctx, req, up, code, detail);
      settle();
    };
    const stopRequestBody = (): void => {
      requestOpen = false;
      req.off('data', onData);
      req.off('end', onEnd);
      socket.off('drain', onSocketDrain);
      discardUnread(req);
    };
    const responseOver = (): void => {
      responseOpen = false;
      clearTimeout(drainTimer);
      // The worker is done with this request: a body still coming from the client is cancelled,
      // so both sides have sent a terminal frame and the link can take the next request.
      if (requestOpen) {
        stopRequestBody();
        writeAbort(socket, FrameType.RequestAbort, 'response complete');
      }
      pool.release(link);
    };

    const onData = (chunk: Buffer): void => {
      bodyTaken = true;
      if (!writeBody(socket, FrameType.RequestBody, chunk)) req.pause();
    };
    const onSocketDrain = (): void => {
      req.resume();
    };
    const onEnd = (): void => {
      if (!requestOpen) return;
      stopRequestBody();
      writeFrame(socket, FrameType.RequestEnd);
    };
    const onResDrain = (): void => {
      socket.resume();
    };
    res.on('drain', onResDrain);
    const headTimer = setTimeout(() => {
      fail('PORTICO_ERR_UPSTREAM_TIMEOUT', `no response head within ${ctx.upstreamTimeoutMs / 1000} s`);
      // Closing the link is what tells the worker to abort the app's request.
      link.lost(new PorticoError('PORTICO_ERR_UPSTREAM_TIMEOUT', 'gave up waiting for the head'));
    }, ctx.upstreamTimeoutMs);

    link.listener = {
      frame(type, payload) {
        if (type === FrameType.ResponseHead) {
          if (clientDone) return;
          clearTimeout(headTimer);
          let head;
          try {
            head = decodeResponseHead(payload, link.reader!);
          } catch (err) {
            if (!isPorticoError(err)) throw err;
            return link.lost(err);
          }
          if (head.status === 204 || head.status === 304) skipBody = true;
          const client = clientHead(head);
          length = client.length;
          const refused = writeWorkerHead(res, client);
          if (refused !== null) {
            fail('PORTICO_ERR_BAD_RESPONSE', refused);
            link.lost(new PorticoError('PORTICO_ERR_BAD_RESPONSE', refused));
          }
        } else if (type === FrameType.ResponseBody) {
          if (clientDone || skipBody) return;
          if (length >= 0 && received + payload.length > length) {
            endAtLength(res, ctx, req, up, payload.subarray(0, length - received), length);
            settle();
            // The rest of this response is still coming on the link: it cannot be reused.
            return link.lost(new PorticoError('PORTICO_ERR_BAD_RESPONSE', 'response body past its Content-Length'));
          }
          received += payload.length;
          // Body payloads are subarrays of the socket's chunks, never reused: safe to queue.
          if (!res.write(payload)) socket.pause();
        } else if (type === FrameType.ResponseEnd) {
          if (!clientDone) {
            res.end();
            settle();
          }
          responseOver();
        } else if (type === FrameType.ResponseAbort) {
          fail('PORTICO_ERR_UPSTREAM_ABORTED', `the worker aborted the response (${payload.toString('utf8') || 'no reason'})`);
          responseOver();
        }
      },
      closed(err) {
        clearTimeout(drainTimer);
        if (mayRetry && !up.failCode && !clientDone && !bodyTaken && socket.bytesRead === readBefore) return retry();
        if (requestOpen) stopRequestBody();
        fail('PORTICO_ERR_UPSTREAM_ABORTED', responseOpen ? err.message : 'connection closed');
      },
    };
    const retry = (): void => {
      clientDone = true;
      clearTimeout(headTimer);
      res.off('drain', onResDrain);
      res.off('close', onResClose);
      if (requestOpen) {
        requestOpen = false;
        req.off('data', onData);
        req.off('end', onEnd);
        socket.off('drain', onSocketDrain);
        // Flowing with no 'data' listener would drop the body the next attempt must send.
        req.pause();
      }
      resolve('retry');
    };

    const onResClose = (): void => {
      if (res.writableFinished || !responseOpen || clientDone) return;
      // The client went away: cancel the request and keep the link only if the worker answers
      // the cancel with its terminal frame in time; a paused link must flow again to see it.
      if (requestOpen) stopRequestBody();
      writeAbort(socket, FrameType.RequestAbort, 'client went away');
      settle();
      socket.resume();
      drainTimer = setTimeout(() => link.lost(new PorticoError('PORTICO_ERR_UPSTREAM_TIMEOUT', 'no terminal frame after REQUEST_ABORT')), ctx.upstreamTimeoutMs);
    };
    res.on('close', onResClose);

    // CONTENT_LENGTH is the client's header, as on the uwsgi link; without one (a chunked body) it
    // stays empty, the length is unknown and REQUEST_END ends the body: nothing is buffered.
    const vars = varsForHttpRequest(req, ctx, buffered ? buffered.length : undefined);
    // HTTP/1.1: no Content-Length and no Transfer-Encoding means no body. Then the whole request
    // is known now and goes out in one write (head and end in one buffer): one syscall, not two.
    const headers = req.headers;
    const noBody = headers['transfer-encoding'] === undefined && (headers['content-length'] === undefined || headers['content-length'] === '0');
    if (!buffered && (noBody || req.readableEnded)) {
      requestOpen = false;
      writeBodilessRequest(socket, vars);
      if (noBody) req.resume();
    } else if (buffered) {
      socket.cork();
      writeRequestHead(socket, vars);
      writeBody(socket, FrameType.RequestBody, buffered);
      requestOpen = false;
      writeFrame(socket, FrameType.RequestEnd);
      socket.uncork();
      if (noBody) req.resume();
    } else {
      writeRequestHead(socket, vars);
      socket.on('drain', onSocketDrain);
      req.on('data', onData);
      req.on('end', onEnd);
      // After a retry `req` is paused, and a new 'data' listener does not undo an explicit pause.
      req.resume();
    }
  });
}
