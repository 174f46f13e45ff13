/**
 * `portico/websocket`, the package entry a fetch app imports: upgradeWebSocket and the types of
 * what it returns. The offer and the handshake machinery behind it (fetch-websocket.ts) stay
 * internal to the worker.
 */
export { upgradeWebSocket, type PorticoWebSocket, type UpgradedWebSocket, type UpgradeWebSocketOptions } from './fetch-websocket.js';
