// A Koa 3 app: portico runs app.callback(), a Node (req, res) listener. Koa has no router of its
// own; a middleware that switches on the path keeps this dependency-free.
//
//   npx portico worker examples/koa.mjs --socket /tmp/p.sock --chmod-socket 666
import Koa from 'koa';

const app = new Koa();

// Middleware wraps the rest like an onion: this one times every request and says so in a header.
app.use(async (ctx, next) => {
  const start = process.hrtime.bigint();
  await next();
  ctx.set('X-Response-Time', `${Number(process.hrtime.bigint() - start) / 1e6}ms`);
});

app.use(async (ctx) => {
  if (ctx.path === '/') {
    ctx.body = `Hello from Koa, ${ctx.ip}\n`;
  } else if (ctx.path === '/json') {
    ctx.body = { method: ctx.method, path: ctx.path, query: ctx.query };
  } else {
    ctx.throw(404, 'no route here');
  }
});

export default app.callback();
