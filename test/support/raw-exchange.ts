import { connect, type Socket } from 'node:net';

export interface RawHttpResponse {
  status: number;
  headers: Array<[string, string]>;
  body: Buffer;
}

export interface RawExchange {
  responses: RawHttpResponse[];
  /** The server closed (or reset) the connection before `expect` responses came. */
  closed: boolean;
  /** Bytes after the last whole response (a response cut by the close). */
  rest: Buffer;
  /** The connection's local port: the REMOTE_PORT an app behind the gateway sees. */
  localPort: number;
  /** Neither the responses nor a close came within timeoutMs. */
  timedOut: boolean;
}

export interface SendOptions {
  /** 'whole': one write. 'bytes': one write per byte for the head and the first `byteSplitLimit` bytes, then small pieces. */
  split: 'whole' | 'bytes';
  /** Resolve once this many whole responses came (or the connection closed). */
  expect: number;
  /** Half-close after writing (the client has nothing more to say). */
  end?: boolean;
  /** Give up (closed: true, timedOut: true) after this long; a guard against a hung test, 10 s by default. */
  timeoutMs?: number;
}

/**
 * Bytes split one by one only this far: past it, pieces of PIECE bytes (a prime, so piece edges
 * still fall everywhere) keep a 16 KB case from costing 16 000 round trips through the event loop.
 */
const BYTE_SPLIT_LIMIT = 2048;
const PIECE = 61;

/**
 * Sends raw bytes over a new TCP connection, exactly as given (split into separate writes, each
 * flushed before the next), and reads back HTTP/1.1 responses until `expect` of them arrived or
 * the server closed the connection.
 */
export function sendRaw(port: number, data: Buffer, options: SendOptions): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setNoDelay(true);
    let received = Buffer.alloc(0);
    const responses: RawHttpResponse[] = [];
    let localPort = 0;
    let settled = false;
    let timedOut = false;
    const guard = setTimeout(() => {
      timedOut = true;
      settle(true);
    }, options.timeoutMs ?? 10_000);
    const settle = (closed: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(guard);
      socket.destroy();
      resolve({ responses, closed, rest: received, localPort, timedOut });
    };
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      for (;;) {
        const parsed = parseResponse(received, false);
        if (!parsed) break;
        responses.push(parsed.response);
        received = received.subarray(parsed.size);
      }
      if (responses.length >= options.expect) settle(false);
    });
    socket.on('end', () => {
      // A response delimited by the close is whole now.
      const parsed = received.length > 0 ? parseResponse(received, true) : null;
      if (parsed) {
        responses.push(parsed.response);
        received = received.subarray(parsed.size);
      }
      settle(true);
    });
    socket.on('close', () => settle(true));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // A reset after the server refused the request is a closed connection, not a test failure.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') settle(true);
      else if (!settled) reject(err);
    });
    socket.once('connect', () => {
      localPort = socket.localPort ?? 0;
      void writePieces(socket, data, options).catch(() => settle(true));
    });
  });
}

async function writePieces(socket: Socket, data: Buffer, options: SendOptions): Promise<void> {
  const pieces: Buffer[] = [];
  if (options.split === 'whole') pieces.push(data);
  else {
    let i = 0;
    for (; i < Math.min(data.length, BYTE_SPLIT_LIMIT); i++) pieces.push(data.subarray(i, i + 1));
    for (; i < data.length; i += PIECE) pieces.push(data.subarray(i, i + PIECE));
  }
  for (const piece of pieces) {
    if (socket.destroyed) return;
    await new Promise<void>((resolve, reject) => socket.write(piece, (err) => (err ? reject(err) : resolve())));
  }
  if (options.end && !socket.destroyed) socket.end();
}

/** One response from the front of `buf`, or null when it is not whole yet. */
export function parseResponse(buf: Buffer, atEof: boolean): { response: RawHttpResponse; size: number } | null {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd === -1) return null;
  const lines = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!)?.[1] ?? NaN);
  const headers: Array<[string, string]> = lines.slice(1).map((l) => {
    const colon = l.indexOf(':');
    return [l.slice(0, colon).toLowerCase(), l.slice(colon + 1).trim()];
  });
  const get = (name: string): string | undefined => headers.find(([n]) => n === name)?.[1];
  const start = headEnd + 4;
  // 1xx, 204 and 304 end at their head, whatever they say (RFC 9112 §6.3).
  if (status === 204 || status === 304 || (status >= 100 && status < 200)) return { response: { status, headers, body: Buffer.alloc(0) }, size: start };
  const length = get('content-length');
  if (length !== undefined) {
    const end = start + Number(length);
    return buf.length < end ? null : { response: { status, headers, body: buf.subarray(start, end) }, size: end };
  }
  if (get('transfer-encoding')?.toLowerCase() === 'chunked') {
    const chunks: Buffer[] = [];
    let at = start;
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', at);
      if (lineEnd === -1) return null;
      const size = parseInt(buf.subarray(at, lineEnd).toString('latin1'), 16);
      if (size === 0) {
        const end = buf.indexOf('\r\n', lineEnd + 2);
        return end === -1 ? null : { response: { status, headers, body: Buffer.concat(chunks) }, size: end + 2 };
      }
      if (buf.length < lineEnd + 2 + size + 2) return null;
      chunks.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
  // No length: a bodiless error answer, or a body delimited by the close.
  if (status >= 400 || atEof) return { response: { status, headers, body: buf.subarray(start) }, size: buf.length };
  return null;
}
