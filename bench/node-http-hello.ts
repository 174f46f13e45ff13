/**
 * The app behind fastify + @fastify/reply-from in `BENCH_SUITE=gateway npm run bench`: a plain
 * node:http hello world on a unix socket, what a Node user puts behind a Node reverse proxy today.
 *
 *   node dist-test/bench/node-http-hello.js SOCKET
 */
import { existsSync, unlinkSync } from 'node:fs';
import { createServer } from 'node:http';

const path = process.argv[2];
if (!path) {
  process.stderr.write('usage: node dist-test/bench/node-http-hello.js SOCKET\n');
  process.exit(2);
}
const BODY = 'Hello World';
const server = createServer((_req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': BODY.length });
  res.end(BODY);
});
if (existsSync(path)) unlinkSync(path);
server.listen({ path }, () => process.stdout.write(`node http hello ${process.pid} listening on ${path}\n`));
const stop = (): void => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
