import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { isPorticoError, type PorticoError } from '../../common/errors.js';
import { PacketDecoder } from '../../protocol/packet-decoder.js';
import { buildRequestVars } from '../../protocol/request-vars.js';
import { pattern } from './native-frames.js';
import {
  CURRENT_HEAD_VERSION, FrameDecoder, FrameType, NATIVE_MODIFIER1, acceptHello, completeHandshake, decodeRequestHead,
  decodeResponseHead, encodeHello, encodeHelloRefusal, encodeResponseHeadFrame, parseHelloVars, writeAbort, writeBody,
  writeFrame, writeRequestHead, type HeadReader, type NativeResponseHead,
} from '../../protocol/native/index.js';

export interface TestWorker {
  connections: number;
  requests: number;
  close(): Promise<void>;
}

/**
 * A tiny worker built from the native modules, as worker/connection.ts would use them: the uwsgi
 * decoder reads the first packet; modifier1 0 is answered the uwsgi way (one response, close),
 * a native HELLO switches the connection to frames. Routes: /echo streams each request body piece
 * back as it arrives; /generate?N answers N bytes after the request ends; /fail aborts mid-body;
 * /hold answers a head and waits for the gateway's REQUEST_ABORT.
 */
export async function startTestWorker(path: string, writerVersion = CURRENT_HEAD_VERSION): Promise<TestWorker> {
  const state = { connections: 0, requests: 0 };
  const server = createServer((socket) => {
    state.connections++;
    socket.on('error', () => {});
    let frames: FrameDecoder | null = null;
    let route = '';
    let open = false;
    const head = (status: number, headers: string[]): void => {
      socket.write(encodeResponseHeadFrame({ status, reason: 'OK', headers, workerPid: process.pid }, writerVersion));
    };
    const onFrame = (type: FrameType, payload: Buffer): void => {
      if (type === FrameType.RequestHead) {
        const req = decodeRequestHead(payload);
        state.requests++;
        route = req.vars.get('PATH_INFO') ?? '';
        open = true;
        if (route === '/echo') head(200, ['content-type', 'application/octet-stream', 'x-content-length', String(req.contentLength)]);
        if (route === '/hold') head(200, []);
      } else if (type === FrameType.RequestBody) {
        if (route === '/echo') writeBody(socket, FrameType.ResponseBody, payload);
      } else if (type === FrameType.RequestEnd) {
        if (route === '/generate') {
          head(200, ['x-kind', 'generated']);
          const body = pattern(1024 * 1024 + 4099, 3);
          for (let pos = 0; pos < body.length; pos += 65536) writeBody(socket, FrameType.ResponseBody, body.subarray(pos, pos + 65536));
        } else if (route === '/fail') {
          head(200, []);
          writeBody(socket, FrameType.ResponseBody, 'partial body');
          writeAbort(socket, FrameType.ResponseAbort, 'PORTICO_ERR_APP_EXCEPTION: boom');
          open = false;
          return;
        } else if (route === '/hold') {
          return;
        }
        writeFrame(socket, FrameType.ResponseEnd);
        open = false;
      } else if (type === FrameType.RequestAbort && open) {
        // One terminal frame per request on each side keeps the framing in step for the next.
        writeAbort(socket, FrameType.ResponseAbort, 'client aborted');
        open = false;
      }
    };
    const fail = (err: PorticoError): void => {
      socket.destroy(err);
    };
    const packets = new PacketDecoder({
      onHead(h) {
        if (h.modifier1 !== NATIVE_MODIFIER1) {
          socket.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain');
          return;
        }
        try {
          socket.write(acceptHello(parseHelloVars(h.vars), writerVersion));
          frames = new FrameDecoder({ onFrame, onError: fail }, { side: 'worker' });
        } catch (err) {
          if (!isPorticoError(err)) throw err;
          socket.end(encodeHelloRefusal(err));
        }
      },
      onBody() {},
      onEnd() {},
      onError: fail,
    }, { modifiers: new Set([0, NATIVE_MODIFIER1]) });
    socket.on('data', (chunk: Buffer) => (frames ? frames.push(chunk) : packets.push(chunk)));
    socket.on('end', () => {
      frames?.end();
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
 * The gateway's side of one native connection, as gateway code would drive it: one request at a
 * time. Works against the loopback worker here and a real `portico worker` alike.
 */
export class TestGatewayLink {
  readonly socket: Socket;
  reader: HeadReader | null = null;
  private current: Pending | null = null;
  private readonly decoder: FrameDecoder;
  private readonly ready: Promise<void>;

  private constructor(path: string, readerVersion: number) {
    this.socket = connect(path);
    let readyResolve!: () => void;
    let readyReject!: (err: Error) => void;
    this.ready = new Promise((resolve, reject) => ((readyResolve = resolve), (readyReject = reject)));
    const failAll = (err: Error): void => {
      readyReject(err);
      this.current?.fail(err);
      this.socket.destroy();
    };
    this.decoder = new FrameDecoder({
      onFrame: (type, payload) => {
        if (type === FrameType.HelloAck) {
          try {
            this.reader = completeHandshake(payload, readerVersion);
            readyResolve();
          } catch (err) {
            failAll(err as Error);
          }
          return;
        }
        const cur = this.current;
        if (!cur) return; // an ABORT that crossed our END: the request is already over
        if (type === FrameType.ResponseHead) {
          cur.head = decodeResponseHead(payload, this.reader!);
        } else if (type === FrameType.ResponseBody) {
          cur.chunks.push(payload);
          cur.bytes += payload.length;
          for (const w of cur.waiters) if (cur.bytes >= w.bytes) w.resolve();
        } else {
          cur.settle(type === FrameType.ResponseEnd ? 'end' : 'abort', payload.toString('utf8'));
        }
      },
      onError: failAll,
    }, { side: 'gateway' });
    this.socket.on('connect', () => this.socket.write(encodeHello(readerVersion)));
    this.socket.on('data', (chunk: Buffer) => this.decoder.push(chunk));
    this.socket.on('end', () => {
      this.decoder.end();
      failAll(new Error('worker closed the link'));
    });
    this.socket.on('error', failAll);
  }

  static async open(path: string, readerVersion = CURRENT_HEAD_VERSION): Promise<TestGatewayLink> {
    const link = new TestGatewayLink(path, readerVersion);
    await link.ready;
    return link;
  }

  get idle(): boolean {
    return this.current === null && this.decoder.idle;
  }

  /** Sends a request (head, then whatever `send` writes) and resolves with the whole response. */
  async request(uri: string, send: (w: RequestWriter) => Promise<void> = async (w) => w.end(), init: RequestInit = {}): Promise<TestResponse> {
    if (this.current) throw new Error('one request at a time per connection');
    const socket = this.socket;
    const done = new Promise<TestResponse>((resolve, reject) => {
      const cur: Pending = {
        head: null, chunks: [], bytes: 0, waiters: [],
        settle: (outcome, reason) => {
          this.current = null;
          resolve({ head: cur.head, body: Buffer.concat(cur.chunks, cur.bytes), outcome, reason });
        },
        fail: (err) => {
          this.current = null;
          reject(err);
        },
      };
      this.current = cur;
    });
    done.catch(() => {}); // still returned below; this only keeps a failure during send() from being unhandled
    const cur = this.current!;
    writeRequestHead(socket, buildRequestVars({ method: init.method ?? 'POST', uri, headers: init.headers ?? [['Host', 'loopback']] }));
    await send({
      body: async (chunk) => {
        if (!writeBody(socket, FrameType.RequestBody, chunk)) await once(socket, 'drain');
      },
      end: () => writeFrame(socket, FrameType.RequestEnd),
      abort: (reason) => writeAbort(socket, FrameType.RequestAbort, reason),
      received: (bytes) => new Promise<void>((resolve) => {
        if (cur.bytes >= bytes) resolve();
        else cur.waiters.push({ bytes, resolve });
      }),
    });
    return done;
  }

  close(): void {
    this.socket.end();
  }
}
