import type { Socket } from 'node:net';
import { PorticoError, isPorticoError } from '../../common/errors.js';
import type { PacketHead } from '../../protocol/uwsgi/packet-decoder.js';
import { FrameDecoder, FrameType, StreamFrameWriter, creditOf, decodeRequestHead, type NativeRequestHead } from '../../protocol/link/index.js';
import { Exchange } from '../exchange/exchange.js';
import { logRequest } from '../exchange/request-log.js';
import { runExchange } from '../exchange/run-exchange.js';
import { StreamSocket, type StreamOwner } from './stream-socket.js';
import { streamResponseSink } from './stream-response-sink.js';
import { TunnelSocket } from './tunnel-socket.js';
import type { WorkerContext } from '../worker-context.js';

/**
 * Serves a native link (docs/protocol.md): any number of requests at once, each on its
 * own stream id, run through the same Exchange and adapters as every other request. The gateway
 * opens streams with REQUEST_HEAD in increasing id order; a frame for a stream that is over (its
 * response ended, or it was aborted) is dropped, as HTTP/2 does. The socket's 'data' handler runs
 * the requests it carries, and what they answer in that turn leaves in one write.
 */
export class WorkerStreamLink implements StreamOwner {
  readonly writer: StreamFrameWriter;
  private readonly socket: Socket;
  private readonly ctx: WorkerContext;
  private readonly decoder: FrameDecoder;
  private readonly streams = new Map<number, Exchange>();
  private readonly waitingForLink = new Set<StreamSocket>();
  private lastId = 0;
  private goingAway = false;

  constructor(socket: Socket, ctx: WorkerContext) {
    this.socket = socket;
    this.ctx = ctx;
    this.writer = new StreamFrameWriter(socket);
    this.decoder = new FrameDecoder(
      {
        onFrame: (type, payload, id) => this.onFrame(type, payload, id),
        onError: (err) => this.fail(err),
      },
      { side: 'worker' },
    );
    socket.on('data', (chunk: Buffer) => this.decoder.push(chunk));
    socket.on('end', () => {
      // The gateway closed its side: between requests that is an idle link going away.
      this.decoder.end();
      this.abortAll();
      this.writer.flush();
      if (!socket.destroyed) socket.end();
    });
    socket.on('drain', () => {
      const waiting = [...this.waitingForLink];
      this.waitingForLink.clear();
      for (const s of waiting) s.drained();
    });
    socket.on('close', () => {
      ctx.streamLinks.delete(this);
      this.abortAll();
    });
    ctx.streamLinks.add(this);
  }

  get congested(): boolean {
    return this.socket.writableNeedDrain;
  }

  waitForLink(stream: StreamSocket): void {
    this.waitingForLink.add(stream);
  }

  /**
   * The worker is stopping: GOAWAY tells the gateway the last stream it took. Streams above it
   * are dropped unseen (the gateway sends them to another worker); the link closes once the
   * streams it took are over.
   */
  goAway(): void {
    if (this.goingAway) return;
    this.goingAway = true;
    this.writer.u32(FrameType.GoAway, 0, this.lastId);
    this.writer.flush();
    if (this.streams.size === 0) this.socket.end();
  }

  /** What this turn queued goes out now (the worker is about to close its connections). */
  flush(): void {
    this.writer.flush();
  }

  private onFrame(type: FrameType, payload: Buffer, id: number): void {
    if (type === FrameType.RequestHead) return this.open(id, payload);
    const ex = this.streams.get(id);
    if (!ex) {
      if (id > this.lastId) this.fail(new PorticoError('PORTICO_ERR_NATIVE_BAD_FRAME', `frame ${type} for stream ${id}, which was never opened`));
      return;
    }
    const stream = ex.socket as StreamSocket;
    switch (type) {
      case FrameType.RequestBody:
        // Body frames are subarrays of the socket's chunk, never copied: safe to queue.
        stream.received(payload.length);
        if (ex.head.contentLength !== 0) ex.pushBody(payload);
        break;
      case FrameType.RequestEnd:
        ex.endBody();
        break;
      case FrameType.RequestAbort:
        ex.abort(); // the app's signal fires; the sink answers RESPONSE_ABORT; finish lets go
        break;
      case FrameType.ResponseCredit:
        if (payload.length !== 4) return this.fail(new PorticoError('PORTICO_ERR_NATIVE_BAD_FRAME', `RESPONSE_CREDIT of ${payload.length} bytes`));
        stream.credit(creditOf(payload));
        break;
      default:
        break;
    }
  }

  private open(id: number, payload: Buffer): void {
    if (id <= this.lastId) return this.fail(new PorticoError('PORTICO_ERR_NATIVE_BAD_FRAME', `REQUEST_HEAD on stream ${id}, not above ${this.lastId}`));
    this.lastId = id;
    // After GOAWAY: never seen, so the gateway may send it elsewhere.
    if (this.goingAway) return;
    let req: NativeRequestHead;
    try {
      req = decodeRequestHead(payload);
    } catch (err) {
      if (!isPorticoError(err)) throw err;
      return this.fail(err);
    }
    // Unknown length is -1: the adapters treat only 0 as "no body", and REQUEST_END ends it.
    const contentLength = req.contentLength ?? -1;
    const head: PacketHead = { modifier1: 0, modifier2: 0, datasize: payload.length, vars: req.vars, contentLength };
    const ctx = this.ctx;
    const stream = new StreamSocket(this, id);
    ctx.inFlight++;
    ctx.requests++;
    const ex: Exchange = new Exchange(head, stream, ctx, () => this.finish(ex), streamResponseSink);
    ex.takeOverHook = tunnelOf;
    this.streams.set(id, ex);
    runExchange(ex, ctx);
  }

  private finish(ex: Exchange): void {
    const ctx = this.ctx;
    const stream = ex.socket as StreamSocket;
    this.streams.delete(stream.id);
    this.waitingForLink.delete(stream);
    stream.close();
    ctx.inFlight--;
    logRequest(ctx, ex);
    if (ctx.inFlight === 0 && ctx.onIdle) ctx.onIdle();
    if (this.goingAway && this.streams.size === 0) {
      this.writer.flush();
      this.socket.end();
    }
  }

  private fail(err: PorticoError): void {
    this.decoder.stop();
    this.ctx.log.error(err.code, `${err.message} (native link, ${this.streams.size} stream(s) open)`);
    this.abortAll();
    this.socket.destroy();
  }

  /** The gateway is gone: every app still working hears the abort. */
  private abortAll(): void {
    for (const ex of [...this.streams.values()]) if (!ex.finished && !ex.aborted) ex.abort();
  }
}

/** An upgrade the app takes on a stream: a tunnel over the stream's frames. */
function tunnelOf(ex: Exchange): TunnelSocket {
  return new TunnelSocket(ex, ex.socket as StreamSocket);
}
