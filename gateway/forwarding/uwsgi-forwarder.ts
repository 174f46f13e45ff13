import type { Socket } from 'node:net';
import type { ErrorCode, PorticoError } from '../../common/errors.js';
import { encodePacketHead } from '../../protocol/uwsgi/packet-encoder.js';
import { statusHasNoBody } from '../../protocol/http/http-response.js';
import { guessNonHttpServer, httpServerRefusal, mayBeResponseStart, parseResponseHead, showBytes, type ResponseHead } from '../../protocol/uwsgi/response-head-parser.js';
import { varsForHttpRequest } from './http-request-vars.js';
import { clientHead, discardUnread, endAtLength, failUpstream, readBounded, sendError, writeWorkerHead, type ForwardContext } from './forward-common.js';
import { upstreamSpec, type Upstream } from './upstream-pool.js';
import type { ForwardedRequest, ForwardedResponse } from './forward-types.js';

/** What to do about an upstream that does not speak uwsgi; in every line that suspects one. */
const NOT_UWSGI_FIX = "point --upstream at the app server's uwsgi socket (uWSGI's --socket, not its --http-socket); http:// upstreams are not supported";
/** Bytes that cannot begin a status line, and what may have sent them. */
function notHttpGuess(bytes: Buffer): string {
  return `no uwsgi response starts so (they start "HTTP/1."): ${guessNonHttpServer(bytes)}`;
}

/**
 * A close or reset before any byte of a response. uWSGI itself hangs up without a word on a packet
 * it refuses, and so does a worker that dies, so this alone does not name an HTTP server: the line
 * gives both.
 */
function noAnswer(what: string): string {
  return `${what} without answering, not a byte: the upstream's log says why (uWSGI's "invalid request block size": raise its --buffer-size; a worker killed or crashed), unless it does not speak uwsgi (an HTTP server hanging up on a uwsgi packet); if so, ${NOT_UWSGI_FIX}`;
}

export interface UwsgiRequest {
  head: Buffer;
  /** The whole body when it had to be read first (chunked); null when it streams from req. */
  body: Buffer | null;
}

/**
 * The uwsgi packet for a request. The packet must state CONTENT_LENGTH up front, so a chunked
 * body is read first (as nginx does for uwsgi_pass), within --body-limit; null when it was over
 * and the client has had its 413.
 */
export async function prepareUwsgi(req: ForwardedRequest, res: ForwardedResponse, ctx: ForwardContext): Promise<UwsgiRequest | null> {
  let body: Buffer | null = null;
  let contentLength: number | undefined;
  const cl = req.headers['content-length'];
  if (cl !== undefined) contentLength = Number(cl);
  else if (req.headers['transfer-encoding'] !== undefined) {
    body = await readBounded(req, ctx.bodyLimit);
    if (body === null) {
      sendError(res, ctx, 'PORTICO_ERR_BODY_TOO_LARGE', `chunked body over ${ctx.bodyLimit} bytes`, req);
      return null;
    }
    contentLength = body.length;
  }
  return { head: encodePacketHead({ vars: varsForHttpRequest(req, ctx, contentLength) }), body };
}

/**
 * One request over the uwsgi link: one connection, the packet, the body streamed with backpressure,
 * and the close-delimited HTTP response parsed strictly and streamed back.
 */
export function exchangeUwsgi(req: ForwardedRequest, res: ForwardedResponse, ctx: ForwardContext, up: Upstream, socket: Socket, head: Buffer, body: Buffer | null): Promise<void> {
  return new Promise<void>((resolve) => {
    let parsed: ResponseHead | null = null;
    let pending: Buffer | null = null;
    let expected = -1;
    let received = 0;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      discardUnread(req);
      resolve();
    };
    /** The whole response is out. */
    const complete = (): void => {
      res.end();
      finish();
    };
    const fail = (code: ErrorCode, detail: string): void => {
      if (done) return;
      failUpstream(res, ctx, req, up, code, detail);
      finish();
    };
    /** Not a uwsgi server at the other end: the client's 502 and the log line say so and what to do. */
    const wrongProtocol = (answered: string, guess: string): void => {
      if (done) return;
      sendError(res, ctx, 'PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL', `the upstream at ${upstreamSpec(up)} answered ${answered}: ${guess}? ${NOT_UWSGI_FIX}`, req);
      finish();
    };
    // Nothing comes back from a server that waits for a line end a uwsgi packet never sends (an
    // HTTP server reading a request line): only the timeout can tell, so its line says so.
    const timer = setTimeout(
      () =>
        fail(
          'PORTICO_ERR_UPSTREAM_TIMEOUT',
          `no response head within ${ctx.upstreamTimeoutMs / 1000} s` +
            (pending === null
              ? `, not a byte of one: a slow or stuck app, or a server that does not speak uwsgi (an HTTP server waiting for the end of a request line, which a uwsgi packet never sends); if so, ${NOT_UWSGI_FIX}`
              : ''),
        ),
      ctx.upstreamTimeoutMs,
    );

    if (body) socket.write(Buffer.concat([head, body]));
    else {
      socket.write(head);
      // end: false, because the worker takes EOF from its peer as the client going away.
      req.pipe(socket, { end: false });
    }

    const writeBody = (chunk: Buffer): void => {
      if (expected >= 0 && received + chunk.length > expected) {
        endAtLength(res, ctx, req, up, chunk.subarray(0, expected - received), expected);
        finish();
        return;
      }
      received += chunk.length;
      if (!res.write(chunk)) socket.pause();
      if (expected >= 0 && received === expected) complete();
    };
    res.on('drain', () => socket.resume());
    res.on('close', () => {
      // The client went away: closing the worker's connection aborts the app's request.
      if (!res.writableFinished) finish();
    });

    socket.on('data', (chunk: Buffer) => {
      if (parsed) return writeBody(chunk);
      pending = pending ? Buffer.concat([pending, chunk]) : chunk;
      try {
        parsed = parseResponseHead(pending);
      } catch (err) {
        if (!mayBeResponseStart(pending)) return wrongProtocol(showBytes(pending), notHttpGuess(pending));
        return fail('PORTICO_ERR_BAD_RESPONSE', (err as PorticoError).message);
      }
      if (!parsed) {
        if (!mayBeResponseStart(pending)) wrongProtocol(showBytes(pending), notHttpGuess(pending));
        return;
      }
      clearTimeout(timer);
      const refusal = httpServerRefusal(parsed);
      if (refusal !== null) return wrongProtocol(`the uwsgi request with ${refusal}, as an HTTP server refuses bytes it cannot read as a request`, 'is it an HTTP server');
      if (parsed.headers.some(([name]) => name.toLowerCase() === 'transfer-encoding')) {
        return fail('PORTICO_ERR_BAD_RESPONSE', 'Transfer-Encoding in a uwsgi response (the body is delimited by the close)');
      }
      const head = clientHead({ status: parsed.status, reason: parsed.statusText, headers: parsed.headers.flat() });
      // Refused here: a Content-Length that is no number, or two that disagree, and what Node
      // refuses that the strict parser lets through (a control character in the reason).
      const refused = writeWorkerHead(res, head);
      if (refused !== null) return fail('PORTICO_ERR_BAD_RESPONSE', refused);
      const noBody = req.method === 'HEAD' || statusHasNoBody(parsed.status);
      expected = noBody ? 0 : head.length;
      const rest = pending.subarray(parsed.size);
      pending = null;
      if (noBody) return complete();
      if (rest.length > 0) writeBody(rest);
      else if (expected === 0) complete();
    });
    socket.on('end', () => {
      if (done) return;
      if (!parsed) return fail('PORTICO_ERR_UPSTREAM_ABORTED', pending === null ? noAnswer('closed the connection') : 'closed before a complete response head');
      if (expected >= 0 && received < expected) return fail('PORTICO_ERR_UPSTREAM_ABORTED', `closed after ${received} of ${expected} body bytes`);
      complete();
    });
    // An HTTP server's 400 can be lost here: it resets the connection while the body is still
    // being written, and the failed write closes the socket before the answer is read.
    socket.on('error', (err) => fail('PORTICO_ERR_UPSTREAM_ABORTED', pending === null && !parsed ? `${err.message}: ${noAnswer('reset the connection')}` : err.message));
    socket.on('close', () => {
      if (!done) fail('PORTICO_ERR_UPSTREAM_ABORTED', 'connection closed');
    });
  });
}
