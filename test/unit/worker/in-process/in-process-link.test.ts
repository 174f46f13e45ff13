// The in-process link (portico worker --http-socket): a request handed over by a call, its response
// written to the HTTP front's response object. The front's objects here record what they are given;
// the front itself is tested through real clients in test/integration/worker/http-socket.test.ts.
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { describe, it } from 'node:test';
import { UwsgiVars } from '../../../../protocol/uwsgi/uwsgi-vars.js';
import type { Exchange } from '../../../../worker/exchange/exchange.js';
import { serveInProcess, type ClientRequest, type ClientResponse } from '../../../../worker/in-process/in-process-link.js';
import type { WorkerContext } from '../../../../worker/worker-context.js';
import { PauseCounter, testWorkerContext } from '../../../support/unit-peers.js';

class Request extends PauseCounter implements ClientRequest {
  complete = true;
}

/** Records the head and the body; write() says "wait" while `full`. */
class Response extends EventEmitter implements ClientResponse {
  destroyed = false;
  writableFinished = false;
  full = false;
  head: { status: number; reason: string; headers: string[] } | null = null;
  chunks: Buffer[] = [];
  writeHead(status: number, reason: string, headers: string[]): this {
    this.head = { status, reason, headers };
    return this;
  }
  write(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    return !this.full;
  }
  end(chunk?: string | Buffer): this {
    if (chunk !== undefined) this.chunks.push(Buffer.from(chunk));
    this.writableFinished = true;
    return this;
  }
  destroy(): this {
    this.destroyed = true;
    return this;
  }
  get body(): string {
    return Buffer.concat(this.chunks).toString();
  }
}

function vars(method: string, contentLength = ''): UwsgiVars {
  return new UwsgiVars(['REQUEST_METHOD', method, 'REQUEST_URI', '/x', 'CONTENT_LENGTH', contentLength, 'HTTP_HOST', 'example.com']);
}

function context(handler: (ex: Exchange) => void | Promise<void>): WorkerContext {
  return { ...testWorkerContext(), handler };
}

describe('worker: the in-process link', () => {
  it('a whole answer goes out as the head and one end() with the body; the request counts and settles', () => {
    const ctx = context((ex) => {
      ex.writeHead(200, undefined, ['Content-Type', 'text/plain', 'Content-Length', '5'], 'hello');
      ex.end();
    });
    const res = new Response();
    serveInProcess(ctx, new Request(), res, vars('GET'), false);
    assert.deepEqual(res.head, { status: 200, reason: 'OK', headers: ['Content-Type', 'text/plain', 'Content-Length', '5'] });
    assert.equal(res.body, 'hello');
    assert.equal(res.writableFinished, true);
    assert.equal(ctx.requests, 1);
    assert.equal(ctx.inFlight, 0);
    assert.equal(res.listenerCount('close'), 0, 'an answer given at once leaves no listener behind');
  });

  it('hop-by-hop headers never reach the front, and a header that would split the head is a 500', () => {
    const res = new Response();
    serveInProcess(
      context((ex) => {
        ex.writeHead(200, undefined, ['Connection', 'close', 'Transfer-Encoding', 'chunked', 'X-Kept', '1']);
        ex.end();
      }),
      new Request(),
      res,
      vars('GET'),
      false,
    );
    assert.deepEqual(res.head?.headers, ['X-Kept', '1']);
    const bad = new Response();
    serveInProcess(
      context((ex) => {
        ex.writeHead(200, undefined, ['X-Evil', 'a\r\nSet-Cookie: b']);
        ex.end();
      }),
      new Request(),
      bad,
      vars('GET'),
      false,
    );
    assert.equal(bad.head?.status, 500);
    assert.doesNotMatch(bad.body, /Set-Cookie/);
  });

  it("the body reaches the app as it comes, and the app's reading resumes the request", async () => {
    const req = new Request();
    req.complete = false;
    const res = new Response();
    const ctx = context(async (ex) => {
      const chunks: Buffer[] = [];
      for await (const c of ex.body()) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks);
      ex.writeHead(200, undefined, ['Content-Length', String(body.length)], body);
      ex.end();
    });
    serveInProcess(ctx, req, res, vars('POST', '10'), true);
    req.emit('data', Buffer.from('hello '));
    req.emit('data', Buffer.from('body'));
    req.emit('end');
    await new Promise<void>((resolve) => (ctx.onIdle = resolve));
    assert.equal(res.body, 'hello body');
    assert.ok(req.resumed > 0);
  });

  it("write() past what the front takes waits for the front's 'drain'", async () => {
    const res = new Response();
    res.full = true;
    let drained = false;
    const ctx = context(async (ex) => {
      ex.writeHead(200, undefined, []);
      if (!ex.write(Buffer.from('a'))) await ex.drained();
      drained = true;
      ex.end();
    });
    serveInProcess(ctx, new Request(), res, vars('GET'), false);
    await Promise.resolve();
    assert.equal(drained, false, 'still waiting');
    res.full = false;
    res.emit('drain');
    await new Promise<void>((resolve) => (ctx.onIdle = resolve));
    assert.equal(drained, true);
    assert.equal(res.writableFinished, true);
  });

  it("the client going away aborts a running exchange: the app's signal fires", async () => {
    const res = new Response();
    let signal: AbortSignal | null = null;
    const ctx = context((ex) => {
      signal = ex.signal;
      return new Promise<void>(() => {});
    });
    serveInProcess(ctx, new Request(), res, vars('GET'), false);
    assert.ok(signal);
    const aborted = once(signal as AbortSignal, 'abort');
    res.destroyed = true;
    res.emit('close');
    await aborted;
    assert.equal(ctx.inFlight, 0);
  });
});
