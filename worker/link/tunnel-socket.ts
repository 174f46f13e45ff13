import { Duplex } from 'node:stream';
import { PorticoError, isPorticoError } from '../../common/errors.js';
import { isHopByHop } from '../../protocol/http/http-response.js';
import { FrameType, queueStreamResponseHead } from '../../protocol/link/index.js';
import { parseResponseHead } from '../../protocol/uwsgi/response-head-parser.js';
import type { Exchange } from '../exchange/exchange.js';
import type { StreamSocket } from './stream-socket.js';

/**
 * The socket an app gets for an upgrade on a native-link stream (Node's
 * `'upgrade' (req, socket, head)`): what the app writes is HTTP, its answer's head (the 101, or a
 * refusal) and then the new protocol's bytes, so the head is parsed into RESPONSE_HEAD and every
 * byte after it goes out as RESPONSE_BODY within the stream's window; the client's bytes come in
 * as the request body (credited as the app reads them). end() is RESPONSE_END; a destroy before
 * it, RESPONSE_ABORT. The gateway on the other side writes the head to the client and tunnels the
 * rest (gateway/forwarding/upgrade-forwarder.ts). The few net.Socket methods WebSocket servers call are here.
 */
export class TunnelSocket extends Duplex {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  private readonly ex: Exchange;
  private readonly stream: StreamSocket;
  /** The app's head so far, until it is whole. */
  private head: Buffer | null = Buffer.alloc(0);
  private ended = false;

  constructor(ex: Exchange, stream: StreamSocket) {
    super({ allowHalfOpen: true });
    this.ex = ex;
    this.stream = stream;
    this.remoteAddress = ex.vars.get('REMOTE_ADDR') || undefined;
    this.remotePort = Number(ex.vars.get('REMOTE_PORT')) || undefined;
    const body = ex.body();
    body.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) body.pause();
    });
    body.on('end', () => this.push(null));
    body.on('error', () => this.destroy());
    this.bodyResume = () => body.resume();
    // The gateway aborted the stream (its client went away): the app hears a close.
    ex.onAbort(() => this.destroy());
  }

  private readonly bodyResume: () => void;

  override _read(): void {
    this.bodyResume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    let data = chunk;
    if (this.head !== null) {
      const buf = this.head.length === 0 ? chunk : Buffer.concat([this.head, chunk]);
      let parsed;
      try {
        parsed = parseResponseHead(buf, { switching: true });
      } catch (err) {
        return callback(isPorticoError(err) ? err : new PorticoError('PORTICO_ERR_BAD_RESPONSE', String(err)));
      }
      if (parsed === null) {
        this.head = buf;
        return callback();
      }
      this.head = null;
      const headers: string[] = [];
      // Framing is the gateway's: it says Upgrade and Connection itself for a 101, and closes after anything else.
      for (const [name, value] of parsed.headers) if (!isHopByHop(name)) headers.push(name, value);
      const size = queueStreamResponseHead(this.stream.writer, this.stream.id, { status: parsed.status, reason: parsed.statusText, headers });
      this.ex.headWritten(parsed.status, headers.length >> 1, size);
      data = buf.subarray(parsed.size);
      if (data.length === 0) return callback();
    }
    this.ex.bodyBytes += data.length;
    if (this.stream.writeBody(data)) return callback();
    void this.ex.drained().then(() => callback());
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.ended = true;
    if (this.head !== null) return callback(new PorticoError('PORTICO_ERR_BAD_RESPONSE', 'the app ended the upgraded connection without an answer'));
    if (!this.stream.destroyed) this.stream.writer.frame(FrameType.ResponseEnd, this.stream.id);
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    if (!this.ended && !this.stream.destroyed) {
      this.stream.writer.frame(FrameType.ResponseAbort, this.stream.id, Buffer.from(err?.message.slice(0, 1024) ?? 'the app closed the upgraded connection'));
    }
    callback(err);
  }
}

// What WebSocket servers (ws, socket.io's engine) call on a net.Socket; the link has no such knobs.
for (const name of ['setTimeout', 'setNoDelay', 'setKeepAlive']) {
  Object.defineProperty(TunnelSocket.prototype, name, { value: returnThis, writable: true, configurable: true });
}
function returnThis<T>(this: T): T {
  return this;
}
