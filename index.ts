/**
 * The package's entry: the uwsgi protocol library (encoder, decoder, client) and the programmatic
 * API that starts portico's stacks (cli/api.ts).
 */
export * from './protocol/index.js';
export { serve, worker, type ServeOptions, type WorkerOptions, type Stack } from './cli/api.js';
export { upgradeWebSocket, PorticoWebSocket, type UpgradeWebSocketOptions, type UpgradedWebSocket } from './worker/adapters/fetch-websocket.js';
