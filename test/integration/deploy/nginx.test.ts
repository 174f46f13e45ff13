// deploy/nginx/: every shipped file passes `nginx -t` with only its server paths moved into a
// temp directory, and the static-offload site runs end to end: nginx answers /static/ from disk
// (the worker never sees those requests) and passes everything else to a portico worker.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { outputLine, type Started } from '../../../support/child-process.js';
import { deployDir, localListen, nginxTest, substitutePaths, type PathMap } from '../../support/deploy-files.js';
import { freePort } from '../../../support/free-port.js';
import { runNginx, type Nginx } from '../../../support/nginx.js';
import { repoRoot } from '../../../support/paths.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { needPeer, nginxMissing } from '../../support/peers.js';

const noNginx = needPeer(nginxMissing());

const nginxDir = join(deployDir, 'nginx');
const staticDir = join(repoRoot, 'examples', 'public');

/** Where the shipped files point on a server → where the tests put those things. */
function serverPaths(runDir: string): PathMap {
  return [
    ['/run/portico', runDir],
    ['/etc/portico/nginx', nginxDir],
    ['/srv/portico/static', staticDir],
  ];
}

/** A locations file needs the upstream its proxy_pass / uwsgi_pass names and a server { } around it. */
function wrapLocations(text: string, file: string, runDir: string, port: number): string {
  const upstream = /(?:uwsgi_pass|proxy_pass http:\/\/)\s*([A-Za-z_][\w]*)\s*;/.exec(text)?.[1];
  assert.ok(upstream, `${file} passes to no named upstream`);
  // The gateway's locations use the map its site includes at http level.
  const map = text.includes('$portico_connection') ? `include ${join(nginxDir, 'portico-upgrade-map.conf')};\n  ` : '';
  return `${map}upstream ${upstream} { server unix:${join(runDir, 'portico.sock')}; }
  server { listen 127.0.0.1:${port}; include ${join(nginxDir, file)}; }`;
}

describe('deploy/nginx: nginx -t on every file', { skip: noNginx }, () => {
  const tmp = makeTmpDir('deploy-nginx-t');
  after(() => tmp.cleanup());
  const files = readdirSync(nginxDir)
    .filter((f) => f.endsWith('.conf'))
    .sort();

  test('the directory has the three kinds of site: gateway, uwsgi, uwsgi with static offload', () => {
    for (const f of ['portico-gateway.conf', 'portico-uwsgi.conf', 'portico-uwsgi-static.conf']) assert.ok(files.includes(f), f);
  });

  for (const file of files) {
    test(file, async () => {
      const home = join(tmp.path, file.replace(/\.conf$/, ''));
      const runDir = join(home, 'run');
      mkdirSync(runDir, { recursive: true });
      const text = readFileSync(join(nginxDir, file), 'utf8');
      // A site (server { }) is included at http level as Debian's sites-enabled are; it may
      // include the locations files by their installed path, which serverPaths moves too.
      // An http-level snippet (a map) stands alone; a locations file needs its site around it.
      // nginx -t binds the ports it would listen on: a free one, never a privileged one.
      const port = await freePort();
      const http = /^\s*server\s*\{/m.test(text) ? localListen(substitutePaths(text, serverPaths(runDir)), port) : /^\s*map\s/m.test(text) ? text : wrapLocations(text, file, runDir, port);
      const r = nginxTest(home, http);
      assert.equal(r.status, 0, r.output);
      assert.match(r.output, /test is successful/);
      assert.doesNotMatch(r.output, /\[(warn|emerg|alert|crit|error)\]/, r.output);
    });
  }
});

describe('nginx static offload → portico worker (deploy/nginx/portico-uwsgi-static.conf)', { skip: noNginx, timeout: 60_000 }, () => {
  const tmp = makeTmpDir('deploy-static');
  const runDir = join(tmp.path, 'run');
  let worker: Started | undefined;
  let nginx: Nginx | undefined;

  before(async () => {
    mkdirSync(runDir, { mode: 0o777 });
    worker = await startWorker(join(repoRoot, 'examples', 'hello.mjs'), join(runDir, 'portico.sock'), ['--chmod-socket', '666']);
    const site = substitutePaths(readFileSync(join(nginxDir, 'portico-uwsgi-static.conf'), 'utf8'), serverPaths(runDir));
    nginx = await runNginx(tmp.path, 'static', (port, home) => {
      copyFileSync('/etc/nginx/uwsgi_params', join(home, 'uwsgi_params'));
      return localListen(site, port);
    });
  });
  after(async () => {
    await nginx?.stop();
    await worker?.stop();
    tmp.cleanup();
  });

  test('a file under /static/ comes from disk, with caching headers, and never reaches the worker', async () => {
    const res = await fetch(`${nginx!.url}/static/index.html`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), readFileSync(join(staticDir, 'index.html'), 'utf8'));
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.equal(res.headers.get('cache-control'), 'max-age=604800');
    const missing = await fetch(`${nginx!.url}/static/missing.css`);
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /nginx/);
    // The worker logs every request; a request after the static ones marks how far the log is.
    const app = await fetch(`${nginx!.url}/after-static`);
    assert.equal(await app.text(), 'Hello World');
    await outputLine(worker!, /GET \/after-static => generated/);
    assert.doesNotMatch(worker!.output(), /GET \/static\//);
  });

  test('everything else goes through uwsgi_pass to the app', async () => {
    const res = await fetch(`${nginx!.url}/`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'Hello World');
    // /staticfoo is not under /static/: the app answers it (the alias cannot be escaped this way).
    const near = await fetch(`${nginx!.url}/staticfoo/index.html`);
    assert.equal(await near.text(), 'Hello World');
  });
});
