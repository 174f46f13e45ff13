import type { Socket } from 'node:net';
import { serializeHead } from '../exchange/response-head.js';
import type { ResponseSink } from '../exchange/response-sink.js';

/** A Buffer body up to this size is copied after the head; a larger one is written as it is. */
const ONE_WRITE_MAX = 16 * 1024;

/**
 * The uwsgi link's response: an HTTP/1.1 head and the body as bytes, and the close of the
 * connection delimits the body, as in uWSGI (nginx parses it and answers its client).
 */
export const httpResponseSink: ResponseSink = {
  link: 'uwsgi',

  writeHead(ex, status, statusText, headers, body) {
    const head = serializeHead(status, statusText, ex.clientConnection ? [...headers, 'Connection', 'close'] : headers);
    if (body === undefined) ex.conn.write(head, 'latin1');
    else writeWithHead(ex.conn, head, body);
    return head.length;
  },

  write(ex, chunk) {
    return ex.conn.write(chunk);
  },

  end(ex) {
    if (!ex.conn.destroyed) ex.conn.end();
  },

  cut(ex) {
    cutConnection(ex.conn);
  },

  abort(ex) {
    ex.conn.destroy();
  },
};

function writeWithHead(socket: Socket, head: string, body: Buffer | string): void {
  const isString = typeof body === 'string';
  const size = isString ? Buffer.byteLength(body) : body.length;
  if (isString || size <= ONE_WRITE_MAX) {
    // Head and body in one buffer, one write(2): a corked head + body goes through writev, which
    // costs Node more (and allocates more) than copying a small body.
    const out = Buffer.allocUnsafe(head.length + size);
    out.write(head, 0, 'latin1');
    if (isString) out.write(body, head.length, 'utf8');
    else body.copy(out, head.length);
    socket.write(out);
  } else {
    socket.cork();
    socket.write(head, 'latin1');
    socket.write(body);
    socket.uncork();
  }
}

/**
 * Ends a connection so the peer can tell the response is incomplete. On TCP a reset says so
 * outright; a unix socket has no reset, so there only a Content-Length the body falls short of
 * tells nginx (it logs "upstream prematurely closed connection"), the same limit uWSGI has.
 */
function cutConnection(socket: Socket): void {
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}
