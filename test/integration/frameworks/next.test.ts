// A Next.js production build behind portico (issue 13's last row). The test builds the minimal app
// in test/fixtures/frameworks/next-app (a page, a route handler) with `next build`, offline from
// the npm package alone (about 7 s on the 2-core machine, Turbopack), in a directory under the
// repository so `next` resolves from its node_modules; then runs Next's custom-server handler
// (`export default app.getRequestHandler()`) on the four paths of test/support/four-paths.ts.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { type Bases, fourPathsMissing, PATHS, send, startFourPaths } from '../../support/four-paths.js';
import { fixturesDir, repoRoot } from '../../../support/paths.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { needPeer } from '../../support/peers.js';

const NEXT_BIN = join(repoRoot, 'node_modules', 'next', 'dist', 'bin', 'next');

/** `next build` in `dir`; rejects with its output when it fails. */
function nextBuild(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [NEXT_BIN, 'build'], { cwd: dir, env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' }, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`next build failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve();
    });
  });
}

describe('Next.js: a production build through its custom-server handler, on every path', { skip: needPeer(fourPathsMissing()), timeout: 180_000 }, () => {
  const tmp = makeTmpDir('next');
  const stop: Array<() => Promise<unknown>> = [];
  let app = '';
  let bases: Bases;

  before(async () => {
    mkdirSync(join(repoRoot, '.tmp'), { recursive: true });
    app = mkdtempSync(join(repoRoot, '.tmp', 'next-app-'));
    cpSync(join(fixturesDir, 'frameworks', 'next-app'), app, { recursive: true });
    await nextBuild(app);
    bases = await startFourPaths(tmp.path, join(app, 'server.mjs'), stop);
  });

  after(async () => {
    for (const s of stop.reverse()) await s();
    tmp.cleanup();
    if (app) rmSync(app, { recursive: true, force: true });
  });

  for (const [name, words] of PATHS) {
    test(`${words}: the prerendered page, exactly as built; gzip from Next decodes to it; 304 on its ETag`, async () => {
      const html = readFileSync(join(app, '.next', 'server', 'app', 'index.html'));
      assert.match(html.toString(), /<h1>Hello from Next\.js behind portico<\/h1>/);
      const page = await send(bases[name], '/');
      assert.equal(page.status, 200);
      assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
      assert.equal(page.headers['x-powered-by'], 'Next.js');
      assert.deepEqual(page.body, html);
      const gz = await send(bases[name], '/', { headers: { 'accept-encoding': 'gzip' } });
      assert.equal(gz.status, 200);
      assert.equal(gz.headers['content-encoding'], 'gzip');
      assert.deepEqual(gunzipSync(gz.body), html);
      const etag = page.headers.etag;
      assert.ok(etag, 'no ETag');
      const again = await send(bases[name], '/', { headers: { 'if-none-match': etag } });
      assert.equal(again.status, 304);
      assert.equal(again.body.length, 0);
    });

    test(`${words}: a route handler's Response.json, GET with a query and POST with a JSON body`, async () => {
      const got = await send(bases[name], '/api/echo?q=%E2%9C%93');
      assert.equal(got.status, 200);
      assert.equal(got.headers['content-type'], 'application/json');
      assert.equal(got.body.toString(), '{"method":"GET","path":"/api/echo","q":"✓"}');
      const posted = await send(bases[name], '/api/echo', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":[1,2]}' });
      assert.equal(posted.status, 200);
      assert.equal(posted.body.toString(), '{"method":"POST","got":{"a":[1,2]}}');
    });

    test(`${words}: a built static chunk, byte for byte and immutable; an unknown page 404`, async () => {
      const chunks = join(app, '.next', 'static', 'chunks');
      const file = readdirSync(chunks).find((f) => f.endsWith('.js'));
      assert.ok(file, 'the build made no chunk');
      const chunk = await send(bases[name], `/_next/static/chunks/${file}`);
      assert.equal(chunk.status, 200);
      assert.equal(chunk.headers['cache-control'], 'public, max-age=31536000, immutable');
      assert.deepEqual(chunk.body, readFileSync(join(chunks, file)));
      const missing = await send(bases[name], '/no-such-page');
      assert.equal(missing.status, 404);
      assert.match(String(missing.headers['content-type']), /^text\/html/);
    });
  }
});
