import { FrameType, queueStreamResponseHead } from '../../protocol/link/index.js';
import type { Exchange } from '../exchange/exchange.js';
import { validateHeaders } from '../exchange/response-head.js';
import type { ResponseSink } from '../exchange/response-sink.js';
import { StreamSocket } from './stream-socket.js';

/** The stream an exchange of a native link runs on. */
function streamOf(ex: Exchange): StreamSocket {
  return ex.socketAs(StreamSocket);
}

/**
 * A native link's response: RESPONSE_HEAD, RESPONSE_BODY frames, then one terminal frame
 * (RESPONSE_END or RESPONSE_ABORT) on the exchange's stream, queued into the link's batch for this turn, so
 * a response written at once and its neighbours leave in one write.
 */
export const streamResponseSink: ResponseSink = {
  link: 'native',

  writeHead(ex, status, statusText, headers, body) {
    const reason = validateHeaders(status, statusText, headers);
    const stream = streamOf(ex);
    const size = queueStreamResponseHead(stream.writer, stream.id, { status, reason, headers: headers as string[] });
    if (body !== undefined) stream.writeBody(body);
    return size;
  },

  write(ex, chunk) {
    return streamOf(ex).writeBody(chunk);
  },

  end(ex) {
    const stream = streamOf(ex);
    if (!stream.destroyed) stream.writer.frame(FrameType.ResponseEnd, stream.id);
  },

  cut(ex, reason) {
    abortStream(streamOf(ex), reason);
  },

  abort(ex) {
    abortStream(streamOf(ex), 'PORTICO_ERR_CLIENT_ABORTED');
  },
};

function abortStream(stream: StreamSocket, reason: string): void {
  if (!stream.destroyed) stream.writer.frame(FrameType.ResponseAbort, stream.id, Buffer.from(reason.slice(0, 1024), 'utf8'));
}
