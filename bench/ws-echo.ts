/**
 * The app of `BENCH_SUITE=websocket npm run bench`: ws's echo server as its README shows it, an
 * http.Server with a WebSocketServer on it (no permessage-deflate, ws's default). Exported for
 * portico (node kind); with WS_ECHO_PORT set, it listens there itself: the direct baseline.
 */
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const server = createServer((_req, res) => res.end('ok'));
new WebSocketServer({ server }).on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
});

export default server;

const port = process.env.WS_ECHO_PORT;
if (port !== undefined) server.listen(Number(port), '127.0.0.1', () => console.log(`ws echo listening on ${port}`));
