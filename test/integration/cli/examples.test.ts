// Every app in examples/ behind real nginx (the shipped deploy/nginx locations file, stock
// uwsgi_params), started the way the docs tell a user to start it. One worker + nginx pair per
// example, one after the other: each assertion is about what an HTTP client sees through nginx.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { outputLine, startProcess, type Started } from '../../../support/child-process.js';
import { runNginx, startNginx, type Nginx } from '../../../support/nginx.js';
import { porticoBin, repoRoot } from '../../../support/paths.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { needPeer, nginxMissing } from '../../support/peers.js';

const noNginx = needPeer(nginxMissing());

const tmp = makeTmpDir('examples');
after(() => tmp.cleanup());

interface Site {
  base: string;
  worker: Started;
  nginx: Nginx;
}

/**
 * `portico worker examples/APP --socket S --chmod-socket 666` behind nginx. With `master` the
 * documented production form (master, one worker process); without it one plain process.
 */
async function serve(app: string, opts: { master?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<Site> {
  const socket = join(tmp.path, `${app}.sock`);
  const mode = opts.master ? ['--processes', '1'] : ['--no-master'];
  const worker = startProcess(process.execPath, [porticoBin, 'worker', join(repoRoot, 'examples', app), '--socket', socket, '--chmod-socket', '666', ...mode], {
    env: { ...process.env, ...opts.env },
  });
  await outputLine(worker, opts.master ? /worker\(s\) of \S+ accepting on / : / app \S+ on /);
  const nginx = await startNginx(tmp.path, socket);
  return { base: nginx.url, worker, nginx };
}

/** Stops both and checks the worker logged no portico error: every example request is a good one. */
async function stop(site: Site | undefined): Promise<void> {
  if (!site) return;
  await site.nginx.stop();
  await site.worker.stop();
  assert.doesNotMatch(site.worker.output(), /PORTICO_ERR_/);
}

/** One describe per example: start it before its tests, stop it after. */
function example(app: string, opts: Parameters<typeof serve>[1], body: (site: () => Site) => void): void {
  describe(`examples/${app} behind nginx`, { skip: noNginx, timeout: 30_000 }, () => {
    let site: Site | undefined;
    before(async () => {
      site = await serve(app, opts);
    });
    after(() => stop(site));
    body(() => site!);
  });
}

const json = (value: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) });

example('hello.mjs', { master: true }, (site) => {
  test('GET / says hello', async () => {
    const res = await fetch(`${site().base}/`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'Hello World');
  });
});

example('wsgi.mjs', {}, (site) => {
  test('GET / shows the environ the app got from nginx', async () => {
    const res = await fetch(`${site().base}/?a=1&b=%ED%95%9C`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /^method: GET$/m);
    assert.match(text, /^query: a=1&b=%ED%95%9C$/m);
    assert.match(text, /^client: 127\.0\.0\.1$/m);
  });

  test('POST /reverse reads the body first', async () => {
    const res = await fetch(`${site().base}/reverse`, { method: 'POST', body: 'héllo, 한글' });
    assert.equal(await res.text(), '글한 ,olléh');
  });

  test('GET /count streams every line a generator yields', async () => {
    const lines = (await (await fetch(`${site().base}/count?n=5000`)).text()).trimEnd().split('\n');
    assert.equal(lines.length, 5000);
    assert.equal(lines[4999], '5000');
  });
});

example('express.mjs', {}, (site) => {
  test('routes, JSON body, req.ip and Location', async () => {
    const hello = await fetch(`${site().base}/`);
    assert.equal(await hello.text(), 'Hello from Express, 127.0.0.1\n');

    const created = await fetch(`${site().base}/todos`, json({ title: 'write the docs' }));
    assert.equal(created.status, 201);
    assert.equal(created.headers.get('location'), '/todos/2');
    assert.deepEqual(await created.json(), { id: 2, title: 'write the docs', done: false });
    assert.deepEqual(await (await fetch(`${site().base}/todos/2`)).json(), { id: 2, title: 'write the docs', done: false });
  });

  test('its own 400 and 404 answers', async () => {
    assert.equal((await fetch(`${site().base}/todos`, json({}))).status, 400);
    const missing = await fetch(`${site().base}/todos/99`);
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), { error: 'no such todo' });
  });
});

example('koa.mjs', {}, (site) => {
  test('middleware header, ctx.ip, ctx.query, ctx.throw(404)', async () => {
    const hello = await fetch(`${site().base}/`);
    assert.equal(await hello.text(), 'Hello from Koa, 127.0.0.1\n');
    assert.match(hello.headers.get('x-response-time') ?? '', /^[\d.]+ms$/);

    const res = await fetch(`${site().base}/json?x=1&x=2`, { method: 'DELETE' });
    assert.deepEqual(await res.json(), { method: 'DELETE', path: '/json', query: { x: ['1', '2'] } });
    assert.equal((await fetch(`${site().base}/nowhere`)).status, 404);
  });
});

example('fastify.mjs', {}, (site) => {
  test('routes, params, reply headers and request.ip', async () => {
    assert.equal(await (await fetch(`${site().base}/`)).text(), 'Hello from fastify, 127.0.0.1\n');
    const res = await fetch(`${site().base}/hello/portico`);
    assert.equal(res.headers.get('x-powered-by'), 'fastify');
    assert.deepEqual(await res.json(), { hello: 'portico' });
  });

  test("schema validation and the 404 handler are fastify's own", async () => {
    const sum = await fetch(`${site().base}/sum`, json({ numbers: [1, 2, 3.5] }));
    assert.deepEqual(await sum.json(), { sum: 6.5 });
    const invalid = await fetch(`${site().base}/sum`, json({ numbers: 'three' }));
    assert.equal(invalid.status, 400);
    assert.equal(((await invalid.json()) as { code: string }).code, 'FST_ERR_VALIDATION');
    const missing = await fetch(`${site().base}/nowhere`);
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /Route GET:\/nowhere not found/);
  });
});

/** Reads one server-sent event (up to its blank line) from a response body. */
function eventReader(body: ReadableStream<Uint8Array>): { next(): Promise<string | null> } {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  return {
    async next() {
      for (;;) {
        const end = buffered.indexOf('\n\n');
        if (end >= 0) {
          const event = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          return event;
        }
        const { done, value } = await reader.read();
        if (done) return buffered === '' ? null : buffered;
        buffered += decoder.decode(value, { stream: true });
      }
    },
  };
}

example('sse.mjs', { master: true }, (site) => {
  test('each event reaches the client while the stream is still open', async () => {
    const res = await fetch(`${site().base}/events?limit=3`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const events = eventReader(res.body!);
    assert.equal(await events.next(), 'event: ready\ndata: 1 subscriber(s)');
    // Each message is published only after the previous one arrived: if nginx held the stream
    // back until it ended (or a buffer filled), the next read would never return.
    const messages = ['one', 'two\nlines', 'three'];
    for (const [i, message] of messages.entries()) {
      const published = await fetch(`${site().base}/publish`, { method: 'POST', body: message });
      assert.deepEqual(await published.json(), { id: i + 1, delivered: 1 });
      const data = message
        .split('\n')
        .map((line) => `data: ${line}`)
        .join('\n');
      assert.equal(await events.next(), `id: ${i + 1}\n${data}`);
    }
    // limit=3: the app ended the stream after the third message.
    assert.equal(await events.next(), null);
  });
});

example('upload.mjs', { env: { UPLOAD_DIR: join(tmp.path, 'uploads') } }, (site) => {
  test('a multi-MiB upload is stored whole and its SHA-256 comes back right', async () => {
    const file = randomBytes(8 * 1024 * 1024 + 17);
    const sha256 = createHash('sha256').update(file).digest('hex');
    const res = await fetch(`${site().base}/upload/data.bin`, { method: 'PUT', body: file });
    assert.equal(res.status, 201);
    assert.deepEqual(await res.json(), { name: 'data.bin', bytes: file.length, sha256 });
    const uploads = join(tmp.path, 'uploads');
    assert.ok(readFileSync(join(uploads, 'data.bin')).equals(file));
    // The temporary .part file was renamed, not left behind.
    assert.deepEqual(readdirSync(uploads), ['data.bin']);
  });

  test('a name that could leave the upload directory is refused', async () => {
    const res = await fetch(`${site().base}/upload/.hidden`, { method: 'PUT', body: 'x' });
    assert.equal(res.status, 400);
  });
});

/**
 * docs/getting-started.md's five commands as written, inside a scratch root: the doc's absolute
 * paths (/srv, /run, /etc, /usr/local/bin) move under it and /opt/portico is this checkout, `sudo`
 * goes, apt-get and npm ci are skipped (the test runs from a built checkout), and nginx runs on a
 * free port instead of Debian's nginx on port 80. Catches a doc that drifts from deploy/nginx.
 */
describe('docs/getting-started.md, its commands in a scratch root', { skip: noNginx, timeout: 30_000 }, () => {
  const root = join(tmp.path, 'root');
  let worker: Started | undefined;
  let nginx: Nginx | undefined;
  after(async () => {
    await nginx?.stop();
    await worker?.stop();
  });

  test('the app answers through nginx as the doc shows', async () => {
    const doc = readFileSync(join(repoRoot, 'docs', 'getting-started.md'), 'utf8');
    const move = (text: string): string =>
      text
        .replace(/\bsudo /g, '')
        .replace(/\/opt\/portico\b/g, repoRoot.replace(/\/$/, ''))
        .replace(/(?<![\w./-])\/(srv|run|etc|usr\/local\/bin)\b/g, `${root}/$1`);
    const blocks = [...doc.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => move(m[1]!).replace('npm ci && ', ''));
    assert.equal(blocks.length, 5, 'five commands');
    for (const dir of ['usr/local/bin', 'etc/nginx/sites-enabled']) mkdirSync(join(root, dir), { recursive: true });
    // Two workers are plenty here; the doc leaves the default (2 x cores + 1).
    const env = { ...process.env, USER: userInfo().username, PATH: `${root}/usr/local/bin:${process.env.PATH}`, PORTICO_PROCESSES: '2' };
    const sh = (script: string): void => void execFileSync('bash', ['-euc', script], { env, stdio: 'pipe' });

    const [apt, install, app, start, site] = blocks as [string, string, string, string, string];
    assert.match(apt, /apt-get install -y nginx/);
    sh(install);
    sh(app);
    // Command 4 stays in the foreground: everything before `portico worker` runs first.
    const at = start.indexOf('portico worker');
    sh(start.slice(0, at).replace(/&&\s*$/, ''));
    worker = startProcess('bash', ['-c', `exec ${start.slice(at)}`], { env });
    await outputLine(worker, /worker\(s\) of \S+ accepting on /);

    // Command 5 up to `nginx -t`; then the files it put in place, on a free port, stand in for
    // `systemctl reload nginx` (Debian's nginx.conf includes sites-enabled/* the same way).
    sh(site.slice(0, site.indexOf('&& nginx -t')));
    nginx = await runNginx(tmp.path, 'getting-started', (port, home) => {
      writeFileSync(join(home, 'uwsgi_params'), readFileSync('/etc/nginx/uwsgi_params'));
      for (const f of readdirSync(join(root, 'etc', 'portico', 'nginx'))) {
        const file = join(root, 'etc', 'portico', 'nginx', f);
        writeFileSync(file, move(readFileSync(file, 'utf8')).replace(/listen 80;/g, `listen 127.0.0.1:${port};`));
      }
      return `include ${root}/etc/nginx/sites-enabled/*;`;
    });

    const shown = /\$ curl http:\/\/localhost(\S+)\n(.+)\n/.exec(doc);
    assert.ok(shown, 'the doc shows a curl and its output');
    const res = await fetch(`${nginx.url}${shown[1]}`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), `${shown[2]}\n`);
  });
});
