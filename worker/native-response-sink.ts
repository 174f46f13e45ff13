import type { Socket } from 'node:net';
import { FrameType, encodeResponseHeadFrame, writeAbort, writeBody, writeFrame } from '../protocol/native/index.js';
import { statusHasNoBody } from '../protocol/http-response.js';
import { validateHeaders } from './response-head.js';
import type { ResponseSink } from './response-sink.js';

/** A named function for process.nextTick, so corking allocates no closure per request. */
function uncorkSocket(socket: Socket): void {
  socket.uncork();
}

/**
 * The native link's response: RESPONSE_HEAD (Avro), RESPONSE_BODY frames, then exactly one
 * terminal frame, RESPONSE_END or RESPONSE_ABORT; the connection stays open for the next request
 * (docs/protocol.md). Headers pass the same checks as on the uwsgi link.
 */
export const nativeResponseSink: ResponseSink = {
  link: 'native',

  writeHead(ex, status, statusText, headers, body) {
    const reason = validateHeaders(status, statusText, headers);
    const frame = encodeResponseHeadFrame({ status, reason, headers: headers as string[], workerPid: process.pid });
    ex.status = status;
    ex.headSent = true;
    ex.headersCount = headers.length >> 1;
    ex.headersBytes = frame.length;
    const socket = ex.conn;
    // Corked until the next tick, as node:http does: an app that answers at once (head, body
    // and end in the same tick) costs one writev instead of one write per frame.
    socket.cork();
    process.nextTick(uncorkSocket, socket);
    socket.write(frame);
    if (body === undefined || body.length === 0 || ex.isHead || statusHasNoBody(status)) return;
    ex.bodyBytes += typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    writeBody(socket, FrameType.ResponseBody, body);
  },

  write(ex, chunk) {
    return writeBody(ex.conn, FrameType.ResponseBody, chunk);
  },

  end(ex) {
    if (!ex.conn.destroyed) writeFrame(ex.conn, FrameType.ResponseEnd);
  },

  cut(ex, reason) {
    // The gateway aborts its client's response; the link itself stays in step and is reused.
    if (!ex.conn.destroyed) writeAbort(ex.conn, FrameType.ResponseAbort, reason);
  },

  abort(ex) {
    // Still one terminal frame per request, so the link stays in step for the next one.
    if (!ex.conn.destroyed) writeAbort(ex.conn, FrameType.ResponseAbort, 'PORTICO_ERR_CLIENT_ABORTED');
  },
};
