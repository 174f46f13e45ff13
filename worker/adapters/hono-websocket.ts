import { defineWebSocketHelper, WSContext, type WSReadyState } from 'hono/ws';
import { upgradeWebSocket as upgrade, type PorticoWebSocket, type UpgradeWebSocketOptions } from './fetch-websocket.js';

/**
 * Hono's `upgradeWebSocket` for a Hono app portico runs as a fetch app
 * (`import { upgradeWebSocket } from 'portico/hono'`), built with Hono's own adapter API
 * (`defineWebSocketHelper`, as its Deno and Bun helpers are) on portico's upgradeWebSocket. Hono
 * is the app's dependency: this module is loaded only by an app that imports it. (A Hono app
 * exported as a node http.Server, @hono/node-server's createAdaptorServer, uses that package's
 * own helper instead, unchanged.)
 */
export const upgradeWebSocket = defineWebSocketHelper<PorticoWebSocket, UpgradeWebSocketOptions>((c, events, options) => {
  if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') return;
  // The first subprotocol the client offers, as Hono's Deno helper chooses.
  const offered = c.req.header('sec-websocket-protocol')?.split(',')[0]?.trim();
  const { socket, response } = upgrade(c.req.raw, { ...(offered ? { protocol: offered } : {}), ...options });
  const ws = new WSContext<PorticoWebSocket>({
    send: (data) => socket.send(data),
    close: (code, reason) => socket.close(code, reason),
    raw: socket,
    get readyState() {
      return socket.readyState as WSReadyState;
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
