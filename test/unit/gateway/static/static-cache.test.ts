// The in-memory answers in front of @fastify/static (gateway/static/static-cache.ts): a repeated request
// is answered from memory with the same headers, but a file changed, removed or swapped for a
// link out of the root between two requests is never answered from the old entry.
import assert from 'node:assert/strict';
import { mkdirSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { StaticCache } from '../../../../gateway/static/static-cache.js';
import { fixturesDir } from '../../../../support/paths.js';
import { startServe, type HttpFront } from '../../../support/portico-gateway.js';
import { rawRequest } from '../../../support/raw-http.js';
import { makeTmpDir } from '../../../../support/tmp-dir.js';

const OUTSIDE_MARKER = 'OUTSIDE-THE-STATIC-ROOT-c4e1';

/** Enough repeats, spaced out, that the background fill has surely run before the next one. */
async function warm(base: string, path: string): Promise<void> {
  for (let i = 0; i < 4; i++) {
    await rawRequest(base, path);
    await sleep(30);
  }
}

describe('gateway --static: cached answers stay fresh and inside the root', { timeout: 60_000 }, () => {
  const tmp = makeTmpDir('gateway-static-cache');
  const dir = join(tmp.path, 'public');
  let serve: HttpFront | undefined;
  let base = '';

  before(
    async () => {
      writeFileSync(join(tmp.path, 'secret.txt'), OUTSIDE_MARKER);
      mkdirSync(dir, { recursive: true });
      for (const name of ['grow.txt', 'same-size.txt', 'gone.txt', 'swap.txt', 'head.txt']) writeFileSync(join(dir, name), `first ${name}\n`);
      serve = await startServe(join(fixturesDir, 'fetch-app.mjs'), ['--static', `/static=${dir}`]);
      base = serve.url;
    },
    { timeout: 30_000 },
  );

  after(async () => {
    await serve?.stop();
    tmp.cleanup();
  });

  test('repeated GETs: the same body and headers each time', async () => {
    const first = await rawRequest(base, '/static/head.txt');
    await warm(base, '/static/head.txt');
    const again = await rawRequest(base, '/static/head.txt?v=2');
    assert.equal(again.status, 200);
    assert.equal(again.body.toString(), first.body.toString());
    for (const h of ['etag', 'last-modified', 'content-type', 'content-length', 'cache-control', 'accept-ranges', 'vary']) {
      assert.equal(again.headers[h], first.headers[h], h);
    }
    const head = await rawRequest(base, '/static/head.txt', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], first.headers['content-length']);
    assert.equal(head.body.length, 0);
  });

  test('a file rewritten with a new size between two requests is served fresh', async () => {
    await warm(base, '/static/grow.txt');
    writeFileSync(join(dir, 'grow.txt'), 'second, and longer than the first\n');
    const res = await rawRequest(base, '/static/grow.txt');
    assert.equal(res.body.toString(), 'second, and longer than the first\n');
    assert.equal(res.headers['content-length'], String(res.body.length));
  });

  test('a same-size rewrite keeping the old mtime is still noticed (ctime changes)', async () => {
    const file = join(dir, 'same-size.txt');
    // A whole second, so that restoring it after the rewrite gives exactly the same mtime.
    utimesSync(file, 1_700_000_000, 1_700_000_000);
    await warm(base, '/static/same-size.txt');
    writeFileSync(file, 'FIRST same-size.txt\n');
    utimesSync(file, 1_700_000_000, 1_700_000_000);
    const res = await rawRequest(base, '/static/same-size.txt');
    assert.equal(res.body.toString(), 'FIRST same-size.txt\n');
  });

  test('a removed file: 404', async () => {
    await warm(base, '/static/gone.txt');
    rmSync(join(dir, 'gone.txt'));
    const res = await rawRequest(base, '/static/gone.txt');
    assert.equal(res.status, 404);
  });

  test('a file swapped for a link out of the root: neither the old bytes nor the outside ones', async () => {
    await warm(base, '/static/swap.txt');
    symlinkSync(join(tmp.path, 'secret.txt'), join(dir, 'swap.tmp'));
    renameSync(join(dir, 'swap.tmp'), join(dir, 'swap.txt'));
    const res = await rawRequest(base, '/static/swap.txt');
    assert.equal(res.status, 404);
    assert.ok(!res.body.toString().includes(OUTSIDE_MARKER));
    assert.ok(!res.body.toString().includes('first swap.txt'));
  });
});

/** The smallest IncomingMessage/ServerResponse pair tryServe touches. */
function fakeExchange(method: string, url: string, headers: Record<string, string> = {}) {
  const sent: { status?: number; headers?: OutgoingHttpHeaders; body?: Buffer } = {};
  const req = { method, url, headers } as unknown as IncomingMessage;
  const res = {
    writeHead(status: number, h: OutgoingHttpHeaders) {
      sent.status = status;
      sent.headers = h;
    },
    end(body?: Buffer) {
      sent.body = body;
    },
  } as unknown as ServerResponse;
  return { req, res, sent };
}

describe('StaticCache', () => {
  const tmp = makeTmpDir('static-cache-unit');
  after(() => tmp.cleanup());

  function noteServed(cache: StaticCache, url: string, file: string, extra: Record<string, string> = {}): void {
    const st = statSync(file);
    const etag = `W/"${st.size.toString(16)}-${st.mtime.getTime().toString(16)}"`;
    cache.noteResponse('/s/*', url, 'GET', {}, 200, { etag, 'content-type': 'text/plain', ...extra });
  }

  async function filled(cache: StaticCache, url: string): Promise<boolean> {
    for (let i = 0; i < 50; i++) {
      const { req, res } = fakeExchange('GET', url);
      if (cache.tryServe(req, res)) return true;
      await sleep(10);
    }
    return false;
  }

  test('answers from memory once @fastify/static answered, and lets go of a changed file', async () => {
    const file = join(tmp.path, 'x.txt');
    writeFileSync(file, 'x body\n');
    const cache = new StaticCache();
    cache.addMount('/s/', realpathSync(tmp.path));
    noteServed(cache, '/s/x.txt', file);
    assert.ok(await filled(cache, '/s/x.txt'), 'never answered from memory');
    const hit = fakeExchange('GET', '/s/x.txt');
    assert.equal(cache.tryServe(hit.req, hit.res), true);
    assert.equal(hit.sent.status, 200);
    assert.equal(hit.sent.body?.toString(), 'x body\n');
    assert.equal(hit.sent.headers?.['content-length'], 7);
    // Ranges and validators are @fastify/send's to answer.
    assert.equal(cache.tryServe(fakeExchange('GET', '/s/x.txt', { range: 'bytes=0-1' }).req, hit.res), false);
    assert.equal(cache.tryServe(fakeExchange('GET', '/s/x.txt', { 'if-none-match': '"a"' }).req, hit.res), false);
    writeFileSync(file, 'x body, changed\n');
    // Within one event-loop turn the file is stat'ed once (requests read together share it)...
    assert.equal(cache.tryServe(fakeExchange('GET', '/s/x.txt').req, hit.res), true);
    // ...and a request in a later turn, as any request sent after the change is, sees the change.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(cache.tryServe(fakeExchange('GET', '/s/x.txt').req, hit.res), false);
  });

  test('no entry for an ETag that is not the file on disk, a route of another mount, or an encoded answer', async () => {
    const file = join(tmp.path, 'y.txt');
    writeFileSync(file, 'y body\n');
    const cache = new StaticCache();
    cache.addMount('/s/', realpathSync(tmp.path));
    cache.noteResponse('/s/*', '/s/y.txt', 'GET', {}, 200, { etag: 'W/"1-1"' });
    cache.noteResponse('/other/*', '/s/y.txt', 'GET', {}, 200, { etag: 'W/"1-1"' });
    noteServed(cache, '/s/y.txt', file, { 'content-encoding': 'gzip' });
    assert.equal(await filled(cache, '/s/y.txt'), false);
  });

  test('past its time an entry answers on while it is checked again, and a new sibling then drops it', async () => {
    const file = join(tmp.path, 'w.txt');
    writeFileSync(file, 'w body\n');
    const cache = new StaticCache(0);
    cache.addMount('/s/', realpathSync(tmp.path));
    noteServed(cache, '/s/w.txt', file);
    await cache.settled();
    const first = fakeExchange('GET', '/s/w.txt');
    assert.equal(cache.tryServe(first.req, first.res), true, 'an expired entry must still answer');
    await cache.settled();
    // The check found nothing new: the entry stands.
    assert.equal(cache.tryServe(fakeExchange('GET', '/s/w.txt').req, first.res), true);
    await cache.settled();
    writeFileSync(`${file}.br`, 'not really brotli');
    // Answered once more (the stat cannot see the sibling), and the check that starts drops it.
    assert.equal(cache.tryServe(fakeExchange('GET', '/s/w.txt').req, first.res), true);
    await cache.settled();
    assert.equal(cache.tryServe(fakeExchange('GET', '/s/w.txt').req, first.res), false);
  });

  test('no entry for a file with a precompressed sibling', async () => {
    const file = join(tmp.path, 'z.txt');
    writeFileSync(file, 'z body\n');
    writeFileSync(`${file}.gz`, 'not really gzip');
    const cache = new StaticCache();
    cache.addMount('/s/', realpathSync(tmp.path));
    noteServed(cache, '/s/z.txt', file);
    assert.equal(await filled(cache, '/s/z.txt'), false);
  });
});
