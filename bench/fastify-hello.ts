/**
 * The in-process baseline of `BENCH_SUITE=gateway npm run bench`: fastify answering hello world
 * itself, no proxy, no second process.
 *
 *   node dist-test/bench/fastify-hello.js PORT
 */
import Fastify from 'fastify';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: node dist-test/bench/fastify-hello.js PORT\n');
  process.exit(2);
}
const app = Fastify({ logger: false });
app.get('/', (_request, reply) => {
  reply.type('text/plain').send('Hello World');
});
await app.listen({ host: '127.0.0.1', port });
process.stdout.write(`fastify hello ${process.pid} listening on 127.0.0.1:${port}\n`);
const stop = (): void => {
  void app.close().then(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
