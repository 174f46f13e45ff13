import { upgradeWebSocket as upgrade, type PorticoWebSocket, type UpgradeWebSocketOptions } from './fetch-websocket.js';

/**
 * Hono's `upgradeWebSocket` for a Hono app portico runs as a fetch app
 * (an app imports upgradeWebSocket from portico/hono), built with Hono's own adapter API
 * (`defineWebSocketHelper` and `WSContext` from `hono/ws`, as its Deno and Bun helpers are) on
 * portico's upgradeWebSocket. Hono is the app's dependency (an optional peer of portico): it is
 * imported from the app's tree when an app imports this module, and only then. (A Hono app
 * exported as a node http.Server, @hono/node-server's createAdaptorServer, uses that package's
 * own helper instead, unchanged.) The few types below are what this uses of Hono's.
 */
interface HonoContext {
  req: { raw: Request; header(name: string): string | undefined };
}
interface WSContext {
  send(data: string | ArrayBuffer | Uint8Array): void;
  close(code?: number, reason?: string): void;
  readonly readyState: number;
}
interface WSEvents {
  onOpen?(event: Event, ws: WSContext): void;
  onMessage?(event: MessageEvent, ws: WSContext): void;
  onClose?(event: CloseEvent, ws: WSContext): void;
  onError?(event: Event, ws: WSContext): void;
}
interface WSContextInit {
  send(data: string | ArrayBuffer | Uint8Array): void;
  close(code?: number, reason?: string): void;
  raw: PorticoWebSocket;
  readonly readyState: number;
  readonly protocol: string;
  url: string;
}
type Handler = (c: HonoContext, events: WSEvents, options?: UpgradeWebSocketOptions) => Response | undefined;
/** Hono's middleware form, `upgradeWebSocket((c) => events, options)`, and its direct form. */
export type UpgradeWebSocket = ((
  createEvents: (c: HonoContext) => WSEvents | Promise<WSEvents>,
  options?: UpgradeWebSocketOptions,
) => (c: HonoContext, next: () => Promise<void>) => Promise<Response | undefined>) &
  ((c: HonoContext, events: WSEvents, options?: UpgradeWebSocketOptions) => Promise<Response>);
interface HonoWs {
  defineWebSocketHelper(handler: Handler): UpgradeWebSocket;
  WSContext: new (init: WSContextInit) => WSContext;
}

const { defineWebSocketHelper, WSContext } = (await import('hono/ws' as string)) as HonoWs;

export const upgradeWebSocket: UpgradeWebSocket = defineWebSocketHelper((c, events, options) => {
  if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') return undefined;
  // The first subprotocol the client offers, as Hono's Deno helper chooses.
  const offered = c.req.header('sec-websocket-protocol')?.split(',')[0]?.trim();
  const { socket, response } = upgrade(c.req.raw, { ...(offered ? { protocol: offered } : {}), ...options });
  const ws = new WSContext({
    send: (data) => socket.send(data),
    close: (code, reason) => socket.close(code, reason),
    raw: socket,
    get readyState() {
      return socket.readyState;
    },
    get protocol() {
      return socket.protocol;
    },
    url: socket.url,
  });
  socket.onopen = (event) => events.onOpen?.(event, ws);
  socket.onmessage = (event) => events.onMessage?.(event as MessageEvent, ws);
  socket.onclose = (event) => events.onClose?.(event as CloseEvent, ws);
  socket.onerror = (event) => events.onError?.(event, ws);
  return response;
});
