/**
 * The "Node reverse proxy" baseline of `BENCH_SUITE=gateway npm run bench`: fastify with
 * @fastify/reply-from forwarding every GET to a node:http server on a unix socket
 * (bench/node-http-hello.ts), with reply-from's defaults: its documented `unix+http://` base
 * gives an undici Pool (keep-alive connections) on that socket.
 *
 *   node dist-test/bench/fastify-reply-from.js PORT SOCKET
 */
import { escape } from 'node:querystring';
import replyFrom from '@fastify/reply-from';
import Fastify from 'fastify';

const port = Number(process.argv[2]);
const socket = process.argv[3];
if (!Number.isInteger(port) || port <= 0 || !socket) {
  process.stderr.write('usage: node dist-test/bench/fastify-reply-from.js PORT SOCKET\n');
  process.exit(2);
}
const app = Fastify({ logger: false });
await app.register(replyFrom, { base: `unix+http://${escape(socket)}/` });
app.get('/*', (request, reply) => {
  reply.from(request.url);
});
await app.listen({ host: '127.0.0.1', port });
process.stdout.write(`fastify reply-from ${process.pid} listening on 127.0.0.1:${port} -> unix:${socket}\n`);
const stop = (): void => {
  void app.close().then(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
