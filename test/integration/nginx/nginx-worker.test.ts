// End to end: real nginx (uwsgi_pass unix:..., the shipped locations file and stock uwsgi_params)
// in front of a real `portico worker` process, once for each kind of app. The three fixtures have
// the same routes and behaviour, so the same cases run against each; every assertion is about what
// an HTTP client sees through nginx, or what the worker wrote to its log.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { outputLine, type Started } from '../../../support/child-process.js';
import { startNginx, type Nginx } from '../../../support/nginx.js';
import { fixturesDir } from '../../../support/paths.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { needPeer, nginxMissing } from '../../support/peers.js';

const noNginx = needPeer(nginxMissing());

const KINDS = [
  { kind: 'fetch', app: 'fetch-app.mjs' },
  { kind: 'wsgi', app: 'wsgi-app.mjs' },
  { kind: 'node', app: 'node-app.mjs' },
] as const;

/** Error codes the cases below provoke on purpose; any other PORTICO_ERR_ in the log is a failure. */
const EXPECTED_ERRORS = new Set(['PORTICO_ERR_APP_EXCEPTION', 'PORTICO_ERR_INVALID_HEADER']);

const MiB = 1024 * 1024;

/** A uWSGI-shaped request log line for one request; `status`, `bytes` and `method` narrow it. */
function requestLogLine(method: string, uri: string, status: number, bytes: number | null = null): RegExp {
  const esc = uri.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  return new RegExp(
    String.raw`\[pid: \d+\|app: 0\|req: \d+\/\d+\] 127\.0\.0\.1 \(\) \{\d+ vars in \d+ bytes\} \[.+\] ` +
      `${method} ${esc} => generated ${bytes === null ? String.raw`\d+` : bytes} bytes in \\d+ msecs ` +
      String.raw`\(HTTP\/1\.1 ${status}\) \d+ headers in \d+ bytes`,
  );
}

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** node:http for what fetch hides: a HEAD response's raw body bytes. */
function rawRequest(url: string, method: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

for (const { kind, app } of KINDS) {
  describe(`nginx → portico worker, ${kind} app`, { skip: noNginx, timeout: 120_000 }, () => {
    let tmp: ReturnType<typeof makeTmpDir> | undefined;
    let worker: Started | undefined;
    let nginx: Nginx | undefined;
    let base = '';

    before(async () => {
      tmp = makeTmpDir(`nginx-${kind}`);
      const socket = join(tmp.path, 'worker.sock');
      // nginx's workers run as nobody: the socket must be connectable by others.
      worker = await startWorker(join(fixturesDir, app), socket, ['--chmod-socket', '666']);
      nginx = await startNginx(tmp.path, socket);
      base = nginx.url;
    });

    after(async () => {
      await nginx?.stop();
      await worker?.stop();
      tmp?.cleanup();
    });

    test('the worker detected the app kind', async () => {
      await outputLine(worker!, new RegExp(`: ${kind} app \\S+${app.replace('.', '\\.')}:\\S+ on `));
    });

    test('GET with a UTF-8 path and query: the app sees them decoded', async () => {
      const res = await fetch(`${base}/path/with%20space/%ED%95%9C?q=1&k=%ED%95%9C&e=a%26b`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      const seen = (await res.json()) as { method: string; path: string; query: Record<string, string> };
      assert.equal(seen.method, 'GET');
      assert.equal(seen.path, '/path/with space/한');
      assert.deepEqual(seen.query, { q: '1', k: '한', e: 'a&b' });
    });

    test('POST application/x-www-form-urlencoded: the app parses the form', async () => {
      const res = await fetch(`${base}/form`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'name=J%C3%BCrgen+M&lang=%ED%95%9C&empty=&sym=1%2B1%3D2',
      });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { name: 'Jürgen M', lang: '한', empty: '', sym: '1+1=2' });
    });

    test('a 1 MiB random upload is echoed back byte for byte', async () => {
      const upload = randomBytes(MiB);
      const res = await fetch(`${base}/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-portico-test' },
        body: upload,
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/x-portico-test');
      const echoed = Buffer.from(await res.arrayBuffer());
      assert.equal(echoed.length, upload.length);
      assert.ok(echoed.equals(upload), 'echoed body differs from the upload');
    });

    test('a chunked upload: nginx de-chunks it and CONTENT_LENGTH alone frames it (Transfer-Encoding is only a header here)', async () => {
      const pieces = [randomBytes(100 * 1024), Buffer.from('0\r\n\r\n'), randomBytes(70 * 1024)];
      const sent = Buffer.concat(pieces);
      const post = (path: string): Promise<RawResponse> =>
        new Promise((resolve, reject) => {
          const req = httpRequest(`${base}${path}`, { method: 'POST', agent: false, headers: { 'Transfer-Encoding': 'chunked', 'Content-Type': 'application/octet-stream' } }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
            res.on('error', reject);
          });
          req.on('error', reject);
          for (const p of pieces) req.write(p);
          req.end();
        });
      const echoed = await post('/echo');
      assert.equal(echoed.status, 200);
      // A body that says "0 CRLF CRLF" inside is not cut there: nobody de-chunks it a second time.
      assert.ok(echoed.body.equals(sent), `echoed ${echoed.body.length} bytes, not the ${sent.length} sent`);
      const seen = JSON.parse((await post('/headers')).body.toString()) as { headers: Record<string, string> };
      assert.equal(seen.headers['content-length'], String(sent.length));
    });

    test('a 10 MiB streamed download arrives whole', async () => {
      const size = 10 * MiB + 123; // not a whole number of the app's 64 KiB chunks
      const res = await fetch(`${base}/download?bytes=${size}`);
      assert.equal(res.status, 200);
      const body = Buffer.from(await res.arrayBuffer());
      assert.equal(body.length, size);
      assert.ok(
        body.every((b) => b === 0x78),
        'body is not all "x"',
      );
      await outputLine(worker!, requestLogLine('GET', `/download?bytes=${size}`, 200, size));
    });

    test('HEAD: status and headers, no body', async () => {
      const res = await rawRequest(`${base}/head-check`, 'HEAD');
      assert.equal(res.status, 200);
      assert.match(String(res.headers['content-type']), /^application\/json/);
      assert.equal(res.body.length, 0);
      // nginx would drop a body on a HEAD anyway: the worker's own count shows it sent none.
      await outputLine(worker!, requestLogLine('HEAD', '/head-check', 200, 0));
    });

    test('204: no body', async () => {
      const res = await rawRequest(`${base}/empty`, 'GET');
      assert.equal(res.status, 204);
      assert.equal(res.body.length, 0);
      assert.equal(res.headers['content-length'], undefined);
      assert.equal(res.headers['transfer-encoding'], undefined);
      await outputLine(worker!, requestLogLine('GET', '/empty', 204, 0));
    });

    test('two Set-Cookie headers arrive as two headers', async () => {
      const res = await fetch(`${base}/cookies`, { redirect: 'manual' });
      assert.equal(res.status, 302);
      assert.equal(res.headers.get('location'), '/next');
      assert.deepEqual(res.headers.getSetCookie(), ['a=1; Path=/', 'b=2; HttpOnly']);
    });

    test('a 3000-byte request header reaches the app intact', async () => {
      const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~';
      const long = Array.from({ length: 3000 }, (_, i) => alphabet[(i * 7) % alphabet.length]).join('');
      const res = await fetch(`${base}/long-header`, { headers: { 'x-long': long, 'x-short': 'ok' } });
      assert.equal(res.status, 200);
      const seen = (await res.json()) as { headers: Record<string, string> };
      assert.equal(seen.headers['x-long'], long);
      assert.equal(seen.headers['x-short'], 'ok');
    });

    test('an app that throws: 500, logged as PORTICO_ERR_APP_EXCEPTION, and the worker keeps serving', async () => {
      const res = await fetch(`${base}/throw`);
      assert.equal(res.status, 500);
      assert.match(await res.text(), /Internal Server Error/);
      await outputLine(worker!, new RegExp(`PORTICO_ERR_APP_EXCEPTION: GET /throw: .*boom from the ${kind} app`));
      await outputLine(worker!, requestLogLine('GET', '/throw', 500));
      const next = await fetch(`${base}/after-throw?x=1`);
      assert.equal(next.status, 200);
      assert.deepEqual(((await next.json()) as { query: unknown }).query, { x: '1' });
    });

    test('a header with a NUL: 500, logged as PORTICO_ERR_INVALID_HEADER, never sent', async () => {
      const res = await rawRequest(`${base}/bad-header`, 'GET');
      assert.equal(res.status, 500);
      assert.equal(res.headers['x-bad'], undefined);
      assert.match(res.body.toString(), /Internal Server Error/);
      await outputLine(worker!, /PORTICO_ERR_INVALID_HEADER: GET \/bad-header/);
      await outputLine(worker!, requestLogLine('GET', '/bad-header', 500));
      const next = await fetch(`${base}/after-bad-header`);
      assert.equal(next.status, 200);
      await next.arrayBuffer();
    });

    test("each request is logged in uWSGI's shape", async () => {
      const res = await fetch(`${base}/`);
      assert.equal(res.status, 200);
      const body = Buffer.from(await res.arrayBuffer());
      const [line] = await outputLine(worker!, requestLogLine('GET', '/', 200, body.length));
      assert.match(
        line,
        /\[pid: \d+\|app: 0\|req: \d+\/\d+\] 127\.0\.0\.1 \(\) \{\d+ vars in \d+ bytes\} \[.+\] GET \/ => generated \d+ bytes in \d+ msecs \(HTTP\/1\.1 200\) \d+ headers in \d+ bytes/,
      );
      const pid = worker!.child.pid!;
      assert.match(line, new RegExp(`^\\[pid: ${pid}\\|`));
    });

    test('no unexpected errors in the worker or nginx logs', async () => {
      // Everything logged before this request's line has been written by the time it appears.
      const res = await fetch(`${base}/last`);
      await res.arrayBuffer();
      await outputLine(worker!, requestLogLine('GET', '/last', 200));
      const codes = new Set(worker!.output().match(/PORTICO_ERR_[A-Z_]+/g) ?? []);
      assert.deepEqual(
        [...codes].filter((c) => !EXPECTED_ERRORS.has(c)),
        [],
      );
      const nginxErrors = nginx!.proc
        .output()
        .split('\n')
        .filter((l) => /\[(error|crit|alert|emerg)\]/.test(l));
      assert.deepEqual(nginxErrors, []);
    });
  });
}
