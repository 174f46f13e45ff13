// A forwarded response written through fastify's reply (gateway/forwarding/reply-response.ts): the
// forwarders' writeHead / write / end become reply.code, reply.headers and a streamed body that the
// app's onSend hooks see; repeated headers stay repeated; a head node:http would refuse throws at
// writeHead, where the forwarders turn it into a 502.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Fastify from 'fastify';
import { ReplyResponse } from '../../../../gateway/forwarding/reply-response.js';

test('status, reason, flat headers with a repeated Set-Cookie, a streamed body through an onSend hook', async () => {
  const app = Fastify();
  const seen: string[] = [];
  app.addHook('onSend', async (_request, reply, payload) => {
    seen.push(`${reply.statusCode} ${String(reply.getHeader('x-from'))}`);
    reply.header('x-hook', 'yes');
    return payload;
  });
  app.get('/', (_request, reply) => {
    const res = new ReplyResponse(reply);
    assert.equal(res.headersSent, false);
    res.writeHead(201, 'Made', ['X-From', 'worker', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'Content-Type', 'text/plain']);
    assert.equal(res.headersSent, true);
    assert.equal(res.write(Buffer.from('one, ')), true);
    setImmediate(() => res.end(Buffer.from('two')));
  });
  const res = await app.inject({ method: 'GET', url: '/' });
  assert.equal(res.statusCode, 201);
  assert.equal(res.statusMessage, 'Made');
  assert.deepEqual(res.headers['set-cookie'], ['a=1', 'b=2']);
  assert.equal(res.headers['x-hook'], 'yes');
  assert.equal(res.body, 'one, two');
  assert.deepEqual(seen, ['201 worker']);
  await app.close();
});

test('end() without writeHead sends the status set so far; an object of headers works as node:http takes it', async () => {
  const app = Fastify();
  app.get('/', (_request, reply) => {
    const res = new ReplyResponse(reply);
    res.statusCode = 503;
    res.end('busy\n');
  });
  app.get('/object', (_request, reply) => {
    new ReplyResponse(reply).writeHead(413, { 'content-type': 'text/plain', 'retry-after': '1' }).end('too big\n');
  });
  const plain = await app.inject({ method: 'GET', url: '/' });
  assert.equal(plain.statusCode, 503);
  assert.equal(plain.body, 'busy\n');
  const object = await app.inject({ method: 'GET', url: '/object' });
  assert.equal(object.statusCode, 413);
  assert.equal(object.headers['retry-after'], '1');
  assert.equal(object.body, 'too big\n');
  await app.close();
});

test('a header node:http refuses (a CR in a value, a name that is not a token) throws at writeHead, before anything is sent', async () => {
  const app = Fastify();
  const errors: string[] = [];
  app.get('/', (_request, reply) => {
    const res = new ReplyResponse(reply);
    for (const headers of [
      ['X-Bad', 'a\r\nInjected: 1'],
      ['Bad Name', 'x'],
    ]) {
      try {
        res.writeHead(200, headers);
      } catch (err) {
        errors.push((err as NodeJS.ErrnoException).code ?? '');
      }
    }
    assert.equal(res.headersSent, false);
    res.writeHead(502, ['Content-Type', 'text/plain']).end('502\n');
  });
  const res = await app.inject({ method: 'GET', url: '/' });
  assert.deepEqual(errors, ['ERR_INVALID_CHAR', 'ERR_INVALID_HTTP_TOKEN']);
  assert.equal(res.statusCode, 502);
  assert.equal(res.headers.injected, undefined);
  await app.close();
});
