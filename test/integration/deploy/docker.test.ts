// deploy/docker/: no Docker engine runs here, so the compose file is validated by Compose itself
// (`docker-compose config`) and the stack it describes is then run natively from that validated
// config: portico started with the service's command line, nginx with the site file the nginx
// service mounts, both sharing a directory as the containers share the socket volume, each
// container path replaced by what the volumes (or the Dockerfile, for /opt/portico) put there.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { outputLine, startProcess, type Started } from '../../../support/child-process.js';
import { composeConfig, deployDir, findExecutable, localListen, publishedPorts, substitutePaths, volumeMounts, type ComposeConfig, type PathMap } from '../../support/deploy-files.js';
import { runNginx, type Nginx } from '../../../support/nginx.js';
import { needPeer, nginxMissing } from '../../support/peers.js';
import { repoRoot } from '../../../support/paths.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

const composeFile = join(deployDir, 'docker', 'docker-compose.yml');
const serveComposeFile = join(deployDir, 'docker', 'docker-compose.serve.yml');
const dockerfile = readFileSync(join(deployDir, 'docker', 'Dockerfile'), 'utf8');
const compose = findExecutable('docker-compose');
const skip = needPeer(compose ? false : 'docker-compose is not installed (Debian package docker-compose; .ci/run installs it)');
const noNginx = needPeer(nginxMissing());

describe('deploy/docker/Dockerfile', () => {
  const stages = dockerfile.split(/^FROM /m).slice(1);
  const runtime = stages.at(-1) ?? '';

  test('two stages: tsc in the builder, production dependencies only in the image', () => {
    assert.equal(stages.length, 2);
    assert.match(stages[0]!, /^RUN npm ci --omit=dev --ignore-scripts\b/m);
    assert.match(stages[0]!, /^RUN \/opt\/tsc\/node_modules\/\.bin\/tsc -p tsconfig\.json\b/m);
    // The compiler beside the app's tree is the lock's: the image compiles what the tests compiled.
    const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };
    for (const pkg of ['typescript', '@types/node']) {
      assert.match(stages[0]!, new RegExp(`${pkg.replace('/', '\\/')}@${lock.packages[`node_modules/${pkg}`]!.version.replace(/\./g, '\\.')}\\b`), `${pkg} at the lock's version`);
    }
    assert.match(runtime, /^COPY --from=build \/opt\/portico\/node_modules \.\/node_modules$/m);
    assert.match(runtime, /^COPY --from=build \/opt\/portico\/dist \.\/dist$/m);
    assert.doesNotMatch(runtime, /npm (ci|install)/, "the image stage installs nothing: it copies the builder's production node_modules");
  });

  test('runs as a non-root user, under tini, with node in exec form', () => {
    const user = [...runtime.matchAll(/^USER (\S+)$/gm)].at(-1)?.[1];
    assert.ok(user && user !== 'root' && user !== '0', `USER ${user}`);
    assert.match(runtime, /^ENTRYPOINT \["\/usr\/bin\/tini", "--"\]$/m);
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(runtime)?.[1] ?? 'null') as string[] | null;
    assert.equal(cmd?.[0], 'node');
    assert.equal(cmd?.[1], '/opt/portico/bin/portico.mjs');
  });

  test('the image has every module the runtime code imports: copied sources, production dependencies', () => {
    const copied = [...stages[0]!.matchAll(/^COPY (\w+) \.\/\1$/gm)].map((m) => m[1]!);
    const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { dependencies: object; peerDependenciesMeta?: Record<string, { optional?: boolean }> };
    const deps = Object.keys(manifest.dependencies);
    // An optional peer is the app's to bring (hono for portico/hono): never in the image.
    const optionalPeers = Object.entries(manifest.peerDependenciesMeta ?? {})
      .filter(([, m]) => m.optional)
      .map(([name]) => name);
    for (const dir of copied) {
      assert.ok(existsSync(join(repoRoot, dir)), dir);
      for (const file of readdirSync(join(repoRoot, dir), { recursive: true }) as string[]) {
        if (!file.endsWith('.ts')) continue;
        for (const m of readFileSync(join(repoRoot, dir, file), 'utf8').matchAll(/(?:from |import\()'([^']+)'/g)) {
          const spec = m[1]!;
          if (spec.startsWith('node:')) continue;
          if (spec.startsWith('.')) {
            const target = join(dir, file, '..', spec).split('/')[0]!;
            assert.ok(copied.includes(target), `${dir}/${file} imports ${spec} outside the copied sources`);
          } else {
            // npm ci --omit=dev: a devDependency imported at run time would be missing in the image.
            const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
            assert.ok(deps.includes(pkg) || optionalPeers.includes(pkg), `${dir}/${file} imports ${spec}, not a production dependency`);
          }
        }
      }
    }
  });
});

describe('deploy/docker: what any builder can build, with a small context', () => {
  test('no BuildKit-only syntax, the current Node LTS, useradd without --system (no uid range warning)', () => {
    // A `# syntax=` line makes BuildKit fetch a frontend image (offline builds fail); RUN --mount
    // and heredocs do not exist in the classic builder.
    assert.doesNotMatch(dockerfile, /^#\s*syntax\s*=/im);
    assert.doesNotMatch(dockerfile, /--mount=|<<\s*\w+\s*$/m);
    assert.match(dockerfile, /^ARG NODE_IMAGE=node:24-bookworm-slim$/m);
    assert.deepEqual(
      [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]),
      ['${NODE_IMAGE}', '${NODE_IMAGE}'],
    );
    const useradd = /^ && useradd [^\n]*/m.exec(dockerfile)?.[0] ?? '';
    assert.match(useradd, /--uid 10001/);
    assert.doesNotMatch(useradd, /--system/);
  });

  test("the image's HEALTHCHECK is portico's own client on the socket CMD listens on, first check within seconds", () => {
    const health = /^HEALTHCHECK ((?:--\S+ )*)\\?\s*CMD (\[.*\])$/m.exec(dockerfile);
    assert.ok(health, 'no HEALTHCHECK ... CMD [...]');
    const check = JSON.parse(health[2]!) as string[];
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)?.[1] ?? 'null') as string[];
    assert.deepEqual(check.slice(0, 4), ['node', '/opt/portico/bin/portico.mjs', 'request', '--socket']);
    assert.equal(check[4], cmd[cmd.indexOf('--socket') + 1]);
    const interval = /--interval=(\d+)s/.exec(health[1]!)?.[1];
    assert.ok(interval && Number(interval) <= 5, `--interval=${interval}s`);
  });

  test('.dockerignore lets in exactly what the Dockerfile copies from the context', () => {
    const lines = readFileSync(join(repoRoot, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    assert.equal(lines[0], '*', 'everything out first');
    const allowed = lines.slice(1).map((l) => {
      assert.match(l, /^!/, l);
      return l.slice(1).replace(/\/$/, '');
    });
    const copied = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(/\s+/));
    assert.deepEqual([...new Set(copied)].sort(), allowed.sort());
  });
});

describe('deploy/docker/docker-compose.yml', { skip }, () => {
  let config: ComposeConfig;

  test('docker-compose config accepts it', () => {
    const r = composeConfig(compose!, composeFile);
    assert.equal(r.status, 0, r.output);
    config = r.config!;
    assert.deepEqual(Object.keys(config.services).sort(), ['nginx', 'portico']);
  });

  test('nginx and portico share the socket through one named volume, and both have health checks', () => {
    const socketVolume = (name: string): string | undefined => volumeMounts(config.services[name]!, 'VOL').find(([target]) => target === '/run/portico')?.[1];
    assert.equal(socketVolume('portico'), join('VOL', 'portico-socket'));
    assert.equal(socketVolume('nginx'), join('VOL', 'portico-socket'));
    assert.ok(config.volumes && 'portico-socket' in config.volumes);
    for (const s of ['nginx', 'portico']) assert.equal(config.services[s]!.healthcheck?.test[0], 'CMD', s);
    assert.deepEqual(config.services.nginx!.depends_on, { portico: { condition: 'service_healthy' } });
    assert.equal(config.services.portico!.build?.dockerfile, 'deploy/docker/Dockerfile');
  });

  test('nginx is published on 127.0.0.1:8080 by default, PORTICO_PORT and PORTICO_BIND change it; the base images default to the official ones', () => {
    assert.deepEqual(publishedPorts(config.services.nginx!), ['127.0.0.1:8080:80']);
    const moved = composeConfig(compose!, composeFile, { ...process.env, PORTICO_PORT: '18081', PORTICO_BIND: '0.0.0.0' });
    assert.equal(moved.status, 0, moved.output);
    assert.deepEqual(publishedPorts(moved.config!.services.nginx!), ['0.0.0.0:18081:80']);
    assert.equal(config.services.nginx!.image, 'nginx:1.27');
    assert.equal(config.services.portico!.build?.args?.NODE_IMAGE, 'node:24-bookworm-slim');
  });
});

describe('deploy/docker/docker-compose.serve.yml', { skip }, () => {
  test('docker-compose config accepts it: portico serve behind nginx, on the same image and settings', () => {
    const r = composeConfig(compose!, serveComposeFile);
    assert.equal(r.status, 0, r.output);
    const { services } = r.config!;
    assert.deepEqual(Object.keys(services).sort(), ['nginx', 'portico']);
    assert.deepEqual(services.portico!.command!.slice(0, 4), ['node', '/opt/portico/bin/portico.mjs', 'serve', '/srv/app/hello.mjs']);
    assert.equal(services.portico!.command![services.portico!.command!.indexOf('--http') + 1], '0.0.0.0:8000');
    assert.equal(services.portico!.build?.dockerfile, 'deploy/docker/Dockerfile');
    assert.deepEqual(publishedPorts(services.nginx!), ['127.0.0.1:8080:80']);
    assert.deepEqual(services.portico!.ports ?? [], [], 'the gateway is reached through nginx only');
    const site = volumeMounts(services.nginx!, 'VOL').find(([target]) => target === '/etc/nginx/conf.d/default.conf')?.[1];
    assert.equal(site, join(deployDir, 'docker', 'nginx-serve.conf'));
    assert.match(readFileSync(site, 'utf8'), /server portico:8000;/);
  });
});

describe('the compose stack, run natively from the same files', { skip: skip || noNginx, timeout: 60_000 }, () => {
  const tmp = makeTmpDir('deploy-compose');
  const volumes = join(tmp.path, 'volumes');
  let config: ComposeConfig;
  let portico: Started | undefined;
  let nginx: Nginx | undefined;
  /** Container path → host path for one service: its volumes, and the image's /opt/portico. */
  const pathsOf = (service: string): PathMap => [['/opt/portico', repoRoot], ...volumeMounts(config.services[service]!, volumes)];
  /** A command from the compose file with its container paths moved, and `node` this node. */
  const native = (argv: string[], service: string): string[] => argv.map((a, i) => (i === 0 && a === 'node' ? process.execPath : substitutePaths(a, pathsOf(service))));

  before(async () => {
    config = composeConfig(compose!, composeFile).config!;
    // Named volumes start out as directories the image creates (/run/portico: 0755, portico's).
    for (const name of Object.keys(config.volumes ?? {})) mkdirSync(join(volumes, name), { recursive: true, mode: 0o755 });
    const [cmd, ...args] = native(config.services.portico!.command!, 'portico');
    portico = startProcess(cmd!, args);
    await outputLine(portico, /worker\(s\) of \S+ accepting on \S+/);
    const site = pathsOf('nginx').find(([target]) => target === '/etc/nginx/conf.d/default.conf')?.[1];
    assert.ok(site, 'the nginx service mounts no default site');
    const conf = substitutePaths(readFileSync(site, 'utf8'), pathsOf('nginx'));
    nginx = await runNginx(tmp.path, 'compose-nginx', (port, home) => {
      // The nginx image has uwsgi_params next to its nginx.conf, as Debian's nginx does.
      copyFileSync('/etc/nginx/uwsgi_params', join(home, 'uwsgi_params'));
      return localListen(conf, port);
    });
  });
  after(async () => {
    await nginx?.stop();
    await portico?.stop();
    tmp.cleanup();
  });

  test("portico's health check command passes", () => {
    const [, ...check] = config.services.portico!.healthcheck!.test;
    const [cmd, ...args] = native(check, 'portico');
    assert.equal(execFileSync(cmd!, args, { encoding: 'utf8', timeout: 10_000 }), 'Hello World');
  });

  test("nginx's health check URL answers through nginx, the socket and a worker", async () => {
    const check = config.services.nginx!.healthcheck!.test;
    assert.deepEqual(check.slice(0, 3), ['CMD', 'curl', '-fsS']);
    const url = new URL(check.at(-1)!);
    assert.equal(url.port, ''); // port 80 inside the container: the one localListen moved
    const res = await fetch(`${nginx!.url}${url.pathname}`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'Hello World');
  });

  test('static files come from the mounted directory, not from portico', async () => {
    const res = await fetch(`${nginx!.url}/static/index.html`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), readFileSync(join(repoRoot, 'examples', 'public', 'index.html'), 'utf8'));
    await fetch(`${nginx!.url}/marker`).then((r) => r.text());
    await outputLine(portico!, /GET \/marker => generated/);
    assert.doesNotMatch(portico!.output(), /GET \/static\//);
  });

  test('SIGTERM (docker stop, passed on by tini) stops portico with exit 0', async () => {
    const code = await portico!.stop('SIGTERM');
    assert.equal(code, 0, portico!.output());
    portico = undefined;
  });
});
