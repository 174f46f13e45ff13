import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { PorticoError } from '../../common/errors.js';

/**
 * What this module uses of ws (a dependency; its types, @types/ws, are a devDependency the image's
 * builder does not install, hence these few lines instead).
 */
interface WsWebSocket {
  readonly readyState: number;
  readonly protocol: string;
  readonly extensions: string;
  readonly bufferedAmount: number;
  binaryType: string;
  send(data: string | ArrayBufferLike | ArrayBufferView | Blob): void;
  close(code?: number, reason?: string): void;
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): this;
  on(event: 'close', listener: (code: number, reason: Buffer) => void): this;
  on(event: 'error' | 'ping' | 'pong', listener: () => void): this;
  once(event: 'close', listener: () => void): this;
}
interface WebSocketServer {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, callback: (ws: WsWebSocket) => void): void;
}
interface WsModule {
  WebSocketServer: new (options: { noServer: true; clientTracking: boolean; handleProtocols: (offered: Set<string>, req: IncomingMessage) => string | false; maxPayload?: number }) => WebSocketServer;
}

/**
 * WebSockets for fetch-kind apps, in the shape Deno's `Deno.upgradeWebSocket(request)` has:
 * request in, `{ socket, response }` out; the app sets the socket's handlers and returns the
 * response, and the connection upgrades once it does. ws (the library node-kind apps use) speaks
 * the protocol underneath; it is loaded with the first upgrade.
 */
export interface UpgradeWebSocketOptions {
  /** The subprotocol to accept (one the client offered in Sec-WebSocket-Protocol). */
  protocol?: string;
  /** Close the connection (1001) when nothing arrives for this many seconds; 0: never (the default). */
  idleTimeout?: number;
  /** The largest message accepted, in bytes (ws's maxPayload: 100 MiB by default); a larger one closes with 1009. */
  maxPayload?: number;
}

export interface UpgradedWebSocket {
  socket: PorticoWebSocket;
  response: Response;
}

/**
 * The worker puts this on each WebSocket handshake's Request: `upgradeWebSocket` calls it. A
 * global symbol, so an app importing another copy of portico than the one running it still finds it.
 */
const kUpgrade = Symbol.for('portico.upgradeWebSocket');
type Upgrader = (options: UpgradeWebSocketOptions) => UpgradedWebSocket;

/**
 * Upgrades a WebSocket handshake a fetch-kind app received: returns the socket to set handlers on
 * and the response to return (a 101 Switching Protocols). Throws PORTICO_ERR_UPGRADE_UNSUPPORTED
 * for a request that is no handshake portico can carry.
 */
export function upgradeWebSocket(request: Request, options: UpgradeWebSocketOptions = {}): UpgradedWebSocket {
  const upgrade = (request as Request & { [kUpgrade]?: Upgrader })[kUpgrade];
  if (typeof upgrade !== 'function') {
    throw new PorticoError('PORTICO_ERR_UPGRADE_UNSUPPORTED', 'upgradeWebSocket(request) takes a WebSocket handshake that portico passed to the app (Connection: upgrade, Upgrade: websocket)');
  }
  return upgrade(options);
}

/** What the fetch adapter needs of an exchange's handshake: the connection, taken when the app's answer is the upgrade. */
interface Handshake {
  take(): { req: IncomingMessage; socket: Duplex };
}

/**
 * One handshake's offer: installed on its Request before the app runs, then asked which answer
 * the app chose. `settle(response)` takes the connection and completes the handshake when the
 * response is the one upgradeWebSocket returned, and tells the socket it never opened otherwise.
 */
export class UpgradeOffer {
  private chosen: { socket: PorticoWebSocket; response: Response; options: UpgradeWebSocketOptions } | null = null;

  constructor(request: Request) {
    const upgrader: Upgrader = (options) => {
      if (this.chosen !== null) throw new PorticoError('PORTICO_ERR_UPGRADE_UNSUPPORTED', 'upgradeWebSocket(request) was already called for this request');
      const socket = new PorticoWebSocket(request.url, options.protocol ?? '');
      // undici's Response takes no 101: the worker knows this one by identity and writes the 101 itself.
      const response = switchingProtocols();
      this.chosen = { socket, response, options };
      return { socket, response };
    };
    Object.defineProperty(request, kUpgrade, { value: upgrader });
  }

  /** The app called upgradeWebSocket. */
  get offered(): boolean {
    return this.chosen !== null;
  }

  /** True when `response` is the upgrade: the connection is then the socket's. */
  async settle(response: unknown, handshake: Handshake): Promise<boolean> {
    const chosen = this.chosen;
    if (chosen === null) return false;
    if (response !== chosen.response) {
      // The app answered otherwise (a refusal): the socket never opens, as in Deno.
      chosen.socket.failed();
      return false;
    }
    const wss = await server(chosen.options.maxPayload);
    const { req, socket } = handshake.take();
    if (chosen.options.protocol !== undefined) protocols.set(req, chosen.options.protocol);
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      // ws answers a handshake it finds invalid (a bad key or version) with 400 and closes.
      wss.handleUpgrade(req, socket, Buffer.alloc(0), (ws) => chosen.socket.attach(ws, chosen.options.idleTimeout ?? 0));
    });
    return true;
  }
}

/**
 * The response upgradeWebSocket returns: it says 101 Switching Protocols. Made on first use, since
 * `Response` (undici) is loaded only when something asks for it (worker/adapters/web-classes.ts).
 */
let SwitchingProtocols: (new () => Response) | null = null;
function switchingProtocols(): Response {
  SwitchingProtocols ??= class extends Response {
    constructor() {
      super(null, { status: 200 });
    }

    override get status(): number {
      return 101;
    }

    override get statusText(): string {
      return 'Switching Protocols';
    }
  };
  return new SwitchingProtocols();
}

/** The subprotocol each handshake's app chose (none: no Sec-WebSocket-Protocol in the 101). */
const protocols = new WeakMap<IncomingMessage, string>();

/** One WebSocketServer (noServer) per maxPayload, made with the first upgrade: ws is not loaded before. */
const servers = new Map<number, Promise<WebSocketServer>>();
function server(maxPayload: number | undefined): Promise<WebSocketServer> {
  const key = maxPayload ?? 0;
  let s = servers.get(key);
  if (s === undefined) {
    s = (import('ws' as string) as Promise<WsModule>).then(
      ({ WebSocketServer }) =>
        new WebSocketServer({
          noServer: true,
          // No clients set: the worker tracks its upgraded connections itself (WorkerContext.upgraded).
          clientTracking: false,
          handleProtocols: (_offered, req) => protocols.get(req) ?? false,
          ...(maxPayload ? { maxPayload } : {}),
        }),
    );
    servers.set(key, s);
  }
  return s;
}

/** A WebSocket `close` event (Node 20 has no global CloseEvent). */
class WebSocketCloseEvent extends Event {
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;

  constructor(code: number, reason: string, wasClean: boolean) {
    super('close');
    this.code = code;
    this.reason = reason;
    this.wasClean = wasClean;
  }
}

type Handler = ((event: Event) => void) | null;

/**
 * The server's side of one WebSocket, as the WHATWG WebSocket interface has it (the shape Deno
 * and Bun give server sockets): `open`, `message` (text as a string, binary as an ArrayBuffer or
 * a Blob, by binaryType), `close` and `error` events and their on* handlers; send and close.
 */
export class PorticoWebSocket extends EventTarget {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSING = 2;
  readonly CLOSED = 3;
  readonly url: string;
  binaryType: 'arraybuffer' | 'blob' = 'arraybuffer';
  private readonly offeredProtocol: string;
  private ws: WsWebSocket | null = null;
  private state = 0;
  /** close() before the connection opened: done once it does. */
  private closeFirst: [number | undefined, string | undefined] | null = null;
  private readonly handlers = new Map<string, Handler>();

  constructor(url: string, protocol: string) {
    super();
    this.url = url.replace(/^http/, 'ws');
    this.offeredProtocol = protocol;
  }

  get readyState(): number {
    return this.ws?.readyState ?? this.state;
  }

  get protocol(): string {
    return this.ws?.protocol ?? this.offeredProtocol;
  }

  get extensions(): string {
    return this.ws?.extensions ?? '';
  }

  get bufferedAmount(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  declare onopen: Handler;
  declare onmessage: Handler;
  declare onclose: Handler;
  declare onerror: Handler;
  static {
    // Each on* handler is one listener of its event, replaced when set again (as the DOM's are).
    for (const type of ['open', 'message', 'close', 'error']) {
      Object.defineProperty(PorticoWebSocket.prototype, `on${type}`, {
        configurable: true,
        get(this: PorticoWebSocket): Handler {
          return this.handlers.get(type) ?? null;
        },
        set(this: PorticoWebSocket, fn: Handler) {
          const old = this.handlers.get(type);
          if (old) this.removeEventListener(type, old);
          this.handlers.set(type, typeof fn === 'function' ? fn : null);
          if (typeof fn === 'function') this.addEventListener(type, fn);
        },
      });
    }
  }

  send(data: string | ArrayBufferLike | ArrayBufferView | Blob): void {
    if (this.ws === null || this.ws.readyState !== 1) throw new DOMException(`the WebSocket is not open (readyState ${this.readyState})`, 'InvalidStateError');
    this.ws.send(data);
  }

  close(code?: number, reason?: string): void {
    if (this.ws !== null) return this.ws.close(code, reason);
    if (this.state === 0) this.closeFirst = [code, reason];
  }

  /** @internal the handshake is complete: events flow from ws's socket. */
  attach(ws: WsWebSocket, idleTimeoutSeconds: number): void {
    this.ws = ws;
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      let payload: string | ArrayBuffer | Blob;
      if (!isBinary) payload = data.toString();
      else {
        const bytes = new Uint8Array(data);
        payload = this.binaryType === 'blob' ? new Blob([bytes]) : bytes.buffer;
      }
      this.dispatchEvent(new MessageEvent('message', { data: payload }));
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.state = 3;
      this.dispatchEvent(new WebSocketCloseEvent(code, reason.toString(), code !== 1006));
    });
    ws.on('error', () => this.dispatchEvent(new Event('error')));
    if (idleTimeoutSeconds > 0) idleClose(ws, idleTimeoutSeconds);
    this.dispatchEvent(new Event('open'));
    if (this.closeFirst !== null) ws.close(...this.closeFirst);
  }

  /** @internal the app answered the handshake with another response: the socket never opens. */
  failed(): void {
    this.state = 3;
    this.dispatchEvent(new Event('error'));
    this.dispatchEvent(new WebSocketCloseEvent(1006, '', false));
  }
}

/** --idle-timeout as Bun has it: nothing from the client for that long closes the connection (1001). */
function idleClose(ws: WsWebSocket, seconds: number): void {
  let timer = setTimeout(onIdle, seconds * 1000);
  function onIdle(): void {
    ws.close(1001, 'idle timeout');
  }
  const refresh = (): void => {
    clearTimeout(timer);
    timer = setTimeout(onIdle, seconds * 1000);
  };
  ws.on('message', refresh);
  ws.on('pong', refresh);
  ws.on('ping', refresh);
  ws.once('close', () => clearTimeout(timer));
}
