import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { isPorticoError, type PorticoError } from '../../common/errors.js';
import { PacketDecoder } from '../../protocol/uwsgi/packet-decoder.js';
import { buildRequestVars } from '../../protocol/uwsgi/request-vars.js';
import { pattern } from './link-frames.js';
import {
  FrameDecoder,
  HEAD_SCHEMAS,
  FrameType,
  NATIVE_MODIFIER1,
  REQUEST_WINDOW,
  RESPONSE_WINDOW,
  StreamFrameWriter,
  acceptHello,
  completeHandshake,
  creditOf,
  decodeRequestHead,
  decodeResponseHead,
  encodeHello,
  encodeHelloRefusal,
  parseHelloVars,
  queueStreamRequest,
  queueStreamResponseHead,
  type HeadReader,
  type HeadSchemas,
  type NativeResponseHead,
} from '../../protocol/link/index.js';

export interface TestWorker {
  connections: number;
  requests: number;
  close(): Promise<void>;
}

/** One stream at the loopback worker: its route, and response bytes held back until the gateway credits them. */
interface WorkerStream {
  route: string;
  window: number;
  queued: Buffer[];
  /** The terminal frame to send once `queued` is out. */
  end: 'end' | null;
}

/**
 * A tiny worker built from the native modules, as worker/uwsgi/uwsgi-connection.ts would use them: the uwsgi
 * decoder reads the first packet; modifier1 0 is answered the uwsgi way (one response, close),
 * a native HELLO switches the connection to frames. It keeps within the gateway's response window
 * and credits request bodies back as they arrive. Routes: /echo streams each request body piece
 * back as it arrives; /generate answers 1 MiB and a bit after the request ends; /fail aborts
 * mid-body; /hold answers a head and waits for the gateway's REQUEST_ABORT.
 */
export async function startTestWorker(path: string, schemas: HeadSchemas = HEAD_SCHEMAS): Promise<TestWorker> {
  const state = { connections: 0, requests: 0 };
  const server = createServer((socket) => {
    state.connections++;
    socket.on('error', () => {});
    let frames: FrameDecoder | null = null;
    const w = new StreamFrameWriter(socket);
    const streams = new Map<number, WorkerStream>();
    const head = (id: number, status: number, headers: string[]): void => {
      queueStreamResponseHead(w, id, { status, reason: 'OK', headers, server: 'loopback' } as NativeResponseHead, schemas.current);
    };
    const pump = (id: number): void => {
      const s = streams.get(id);
      if (!s) return;
      while (s.queued.length > 0 && s.window > 0) {
        let chunk = s.queued.shift()!;
        if (chunk.length > s.window) {
          s.queued.unshift(chunk.subarray(s.window));
          chunk = chunk.subarray(0, s.window);
        }
        s.window -= chunk.length;
        w.body(FrameType.ResponseBody, id, chunk);
      }
      if (s.queued.length === 0 && s.end) {
        w.frame(FrameType.ResponseEnd, id);
        streams.delete(id);
      }
    };
    const send = (id: number, chunk: Buffer | string): void => {
      streams.get(id)!.queued.push(Buffer.from(chunk));
      pump(id);
    };
    const onFrame = (type: FrameType, payload: Buffer, id: number): void => {
      if (type === FrameType.RequestHead) {
        const req = decodeRequestHead(payload);
        state.requests++;
        const route = req.vars.get('PATH_INFO') ?? '';
        streams.set(id, { route, window: RESPONSE_WINDOW, queued: [], end: null });
        if (route === '/echo') head(id, 200, ['content-type', 'application/octet-stream', 'x-content-length', String(req.contentLength)]);
        if (route === '/hold') head(id, 200, []);
        return;
      }
      const s = streams.get(id);
      if (!s) return; // a cancel that crossed our END
      if (type === FrameType.RequestBody) {
        w.u32(FrameType.RequestCredit, id, payload.length);
        if (s.route === '/echo') send(id, Buffer.from(payload));
      } else if (type === FrameType.ResponseCredit) {
        s.window += creditOf(payload);
        pump(id);
      } else if (type === FrameType.RequestEnd) {
        if (s.route === '/generate') {
          head(id, 200, ['x-kind', 'generated']);
          send(id, pattern(1024 * 1024 + 4099, 3));
        } else if (s.route === '/fail') {
          head(id, 200, []);
          w.body(FrameType.ResponseBody, id, 'partial body');
          w.frame(FrameType.ResponseAbort, id, Buffer.from('PORTICO_ERR_APP_EXCEPTION: boom'));
          streams.delete(id);
          return;
        } else if (s.route === '/hold') {
          return;
        }
        s.end = 'end';
        pump(id);
      } else if (type === FrameType.RequestAbort) {
        w.frame(FrameType.ResponseAbort, id, Buffer.from('client aborted'));
        streams.delete(id);
      }
    };
    const fail = (err: PorticoError): void => {
      socket.destroy(err);
    };
    const packets = new PacketDecoder(
      {
        onHead(h) {
          if (h.modifier1 !== NATIVE_MODIFIER1) {
            socket.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain');
            return;
          }
          try {
            socket.write(acceptHello(parseHelloVars(h.vars), schemas));
            frames = new FrameDecoder({ onFrame, onError: fail }, { side: 'worker' });
          } catch (err) {
            if (!isPorticoError(err)) throw err;
            socket.end(encodeHelloRefusal(err));
          }
        },
        onBody() {},
        onEnd() {},
        onError: fail,
      },
      { modifiers: new Set([0, NATIVE_MODIFIER1]) },
    );
    socket.on('data', (chunk: Buffer) => (frames ? frames.push(chunk) : packets.push(chunk)));
    socket.on('end', () => {
      frames?.end();
      w.flush();
      socket.end();
    });
  });
  server.listen(path);
  await once(server, 'listening');
  return Object.assign(state, {
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

export interface TestResponse {
  head: NativeResponseHead | null;
  body: Buffer;
  outcome: 'end' | 'abort';
  reason: string;
}

export interface RequestWriter {
  body(chunk: Buffer): Promise<void>;
  end(): void;
  abort(reason?: string): void;
  /** Resolves once this many response body bytes have arrived. */
  received(bytes: number): Promise<void>;
}

interface Pending {
  head: NativeResponseHead | null;
  chunks: Buffer[];
  bytes: number;
  /** Response bytes received and not credited back yet. */
  uncredited: number;
  /** Request body bytes the worker takes before it must credit more. */
  window: number;
  credited: (() => void) | null;
  waiters: Array<{ bytes: number; resolve: () => void }>;
  settle(outcome: 'end' | 'abort', reason: string): void;
  fail(err: Error): void;
}

/** What a request carries besides its URI; the defaults are what the loopback tests always sent. */
export interface RequestInit {
  method?: string;
  headers?: Array<[string, string]>;
}

/**
 * The gateway's side of one native link, as gateway code would drive it: each request on a stream
 * of its own, bodies within the windows both ways. Works against the loopback worker here and a
 * real `portico worker` alike.
 */
export class TestGatewayLink {
  readonly socket: Socket;
  reader: HeadReader | null = null;
  private readonly streams = new Map<number, Pending>();
  private nextId = 1;
  private readonly writer: StreamFrameWriter;
  private readonly decoder: FrameDecoder;
  private readonly ready: Promise<void>;

  private constructor(path: string, schemas: HeadSchemas) {
    this.socket = connect(path);
    this.writer = new StreamFrameWriter(this.socket);
    let readyResolve!: () => void;
    let readyReject!: (err: Error) => void;
    this.ready = new Promise((resolve, reject) => ((readyResolve = resolve), (readyReject = reject)));
    const failAll = (err: Error): void => {
      readyReject(err);
      for (const cur of [...this.streams.values()]) cur.fail(err);
      this.socket.destroy();
    };
    this.decoder = new FrameDecoder(
      {
        onFrame: (type, payload, id) => {
          if (type === FrameType.HelloAck) {
            try {
              this.reader = completeHandshake(payload, schemas);
              readyResolve();
            } catch (err) {
              failAll(err as Error);
            }
            return;
          }
          const cur = this.streams.get(id);
          if (!cur) return; // an ABORT that crossed our END: the request is already over
          if (type === FrameType.ResponseHead) {
            cur.head = decodeResponseHead(payload, this.reader!);
          } else if (type === FrameType.ResponseBody) {
            cur.chunks.push(payload);
            cur.bytes += payload.length;
            cur.uncredited += payload.length;
            if (cur.uncredited >= RESPONSE_WINDOW / 2) {
              this.writer.u32(FrameType.ResponseCredit, id, cur.uncredited);
              cur.uncredited = 0;
            }
            for (const w of cur.waiters) if (cur.bytes >= w.bytes) w.resolve();
          } else if (type === FrameType.RequestCredit) {
            cur.window += creditOf(payload);
            cur.credited?.();
          } else if (type === FrameType.ResponseEnd || type === FrameType.ResponseAbort) {
            this.streams.delete(id);
            cur.settle(type === FrameType.ResponseEnd ? 'end' : 'abort', payload.toString('utf8'));
          }
        },
        onError: failAll,
      },
      { side: 'gateway' },
    );
    this.socket.on('connect', () => this.socket.write(encodeHello(schemas)));
    this.socket.on('data', (chunk: Buffer) => this.decoder.push(chunk));
    this.socket.on('end', () => {
      this.decoder.end();
      failAll(new Error('worker closed the link'));
    });
    this.socket.on('error', failAll);
  }

  static async open(path: string, schemas: HeadSchemas = HEAD_SCHEMAS): Promise<TestGatewayLink> {
    const link = new TestGatewayLink(path, schemas);
    await link.ready;
    return link;
  }

  /** No request is open on the link. */
  get idle(): boolean {
    return this.streams.size === 0;
  }

  /** Sends a request (head, then whatever `send` writes) on a new stream and resolves with the whole response. */
  async request(uri: string, send: (w: RequestWriter) => Promise<void> = async (w) => w.end(), init: RequestInit = {}): Promise<TestResponse> {
    const id = this.nextId++;
    const writer = this.writer;
    let cur!: Pending;
    const done = new Promise<TestResponse>((resolve, reject) => {
      cur = {
        head: null,
        chunks: [],
        bytes: 0,
        uncredited: 0,
        window: REQUEST_WINDOW,
        credited: null,
        waiters: [],
        settle: (outcome, reason) => resolve({ head: cur.head, body: Buffer.concat(cur.chunks, cur.bytes), outcome, reason }),
        fail: (err) => {
          this.streams.delete(id);
          reject(err);
        },
      };
      this.streams.set(id, cur);
    });
    done.catch(() => {}); // still returned below; this only keeps a failure during send() from being unhandled
    queueStreamRequest(writer, id, buildRequestVars({ method: init.method ?? 'POST', uri, headers: init.headers ?? [['Host', 'loopback']] }), false);
    await send({
      body: async (chunk) => {
        while (cur.window <= 0) await new Promise<void>((resolve) => (cur.credited = resolve));
        cur.credited = null;
        cur.window -= chunk.length;
        writer.body(FrameType.RequestBody, id, chunk);
        if (this.socket.writableNeedDrain) await once(this.socket, 'drain');
      },
      end: () => writer.frame(FrameType.RequestEnd, id),
      abort: (reason) => writer.frame(FrameType.RequestAbort, id, Buffer.from(reason ?? '')),
      received: (bytes) =>
        new Promise<void>((resolve) => {
          if (cur.bytes >= bytes) resolve();
          else cur.waiters.push({ bytes, resolve });
        }),
    });
    return done;
  }

  close(): void {
    this.writer.flush();
    this.socket.end();
  }
}
