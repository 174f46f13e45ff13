import { FrameType, encodeResponseHeadFrame, writeAbort, writeBody, writeFrame } from '../protocol/native/index.js';
import { statusHasNoBody, validateHeaders } from './response-head.js';
import type { ResponseSink } from './response-sink.js';

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
    const socket = ex.socket;
    if (body === undefined || body.length === 0 || ex.isHead || statusHasNoBody(status)) {
      socket.write(frame);
      return;
    }
    ex.bodyBytes += typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    // Head and body frames leave in one writev.
    socket.cork();
    socket.write(frame);
    writeBody(socket, FrameType.ResponseBody, body);
    socket.uncork();
  },

  write(ex, chunk) {
    return writeBody(ex.socket, FrameType.ResponseBody, chunk);
  },

  end(ex) {
    if (!ex.socket.destroyed) writeFrame(ex.socket, FrameType.ResponseEnd);
  },

  cut(ex, reason) {
    // The gateway aborts its client's response; the link itself stays in step and is reused.
    if (!ex.socket.destroyed) writeAbort(ex.socket, FrameType.ResponseAbort, reason);
  },

  abort(ex) {
    // Still one terminal frame per request, so the link stays in step for the next one.
    if (!ex.socket.destroyed) writeAbort(ex.socket, FrameType.ResponseAbort, 'PORTICO_ERR_CLIENT_ABORTED');
  },
};
