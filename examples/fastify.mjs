// A fastify 5 app mounted as a Node (req, res) listener, the way fastify's serverless guide runs it
// on Google Cloud Functions: fastify builds its http.Server but never listens; each request portico
// parses from the uwsgi packet is handed to that server with emit('request', req, res), so hooks,
// schemas, plugins and error handling all run as they would under fastify.listen().
//
//   npx portico worker examples/fastify.mjs --socket /tmp/p.sock --chmod-socket 666
import Fastify from 'fastify';

const app = Fastify();

app.get('/', async (request) => `Hello from fastify, ${request.ip}\n`);

app.post('/sum', {
  schema: {
    body: { type: 'object', required: ['numbers'], properties: { numbers: { type: 'array', items: { type: 'number' } } } },
  },
}, async (request) => ({ sum: request.body.numbers.reduce((a, b) => a + b, 0) }));

app.get('/hello/:name', async (request, reply) => {
  reply.header('X-Powered-By', 'fastify');
  return { hello: request.params.name };
});

// Routes, plugins and hooks are registered by the time ready() resolves; top-level await holds the
// import until then, so portico starts accepting only once the app can answer.
await app.ready();

// Two parameters: portico's kind detection makes this a node app. (`export default app.server`
// also works: portico dispatches to an http.Server that is not listening the same way.)
export default function fastifyListener(req, res) {
  app.server.emit('request', req, res);
}
