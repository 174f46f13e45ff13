// deploy/docker/ under a real Docker engine: the image built with the project's Dockerfile (on
// the official base images where they can be pulled, on stand-ins built from Debian packages by
// deploy/docker/base-images.sh otherwise), then each compose file brought up as shipped, with
// only its documented settings changed: its own project name, port, image tag and app
// (test/fixtures/docker/stack-app.mjs). Each stack is checked end to end through nginx on the
// published port, chain-reloaded with requests in flight, stopped with one in flight, and taken
// down with nothing left behind.
//
// Skipped (with the reason) where no Docker engine answers; PORTICO_REQUIRE_PEERS=1 (CI) makes
// that a failure. PORTICO_SKIP_DOCKER_STACK=REASON skips it on purpose: .ci/run runs the suite
// twice, on two host Nodes, and the image does not depend on the host's Node, so one run is enough.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { outputLine, startProcess, type Started } from '../../../support/child-process.js';
import { deployDir, findExecutable } from '../../support/deploy-files.js';
import { freePort } from '../../../support/free-port.js';
import { needPeer } from '../../support/peers.js';
import { fixturesDir, repoRoot } from '../../../support/paths.js';

const dockerDir = join(deployDir, 'docker');
const docker = findExecutable('docker');
/**
 * Compose 1.x (`docker-compose`, Debian's package, what CI runs), else Compose 2.x as the docker
 * CLI plugin (`docker compose`, what Docker's own packages install; not run here).
 */
const compose: string[] | null = findExecutable('docker-compose')
  ? [findExecutable('docker-compose')!]
  : docker && spawnSync(docker, ['compose', 'version'], { encoding: 'utf8' }).status === 0
    ? [docker, 'compose']
    : null;
const MiB = 1024 * 1024;

/** Why this machine cannot run the test, or false. */
function engineMissing(): string | false {
  if (!docker) return 'the docker CLI is not installed (Debian package docker.io; .ci/run installs it)';
  if (!compose) return 'neither docker-compose nor `docker compose` is installed (Debian package docker-compose; .ci/run installs it)';
  const info = spawnSync(docker, ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8', timeout: 30_000 });
  if (info.status !== 0) {
    const why = `${info.stderr ?? ''}${info.error?.message ?? ''}`.trim().split('\n').at(-1);
    return `no Docker engine answers \`docker info\` (${why}); .ci/run starts dockerd`;
  }
  return false;
}

const deliberate = process.env.PORTICO_SKIP_DOCKER_STACK;
const skip = deliberate ? `PORTICO_SKIP_DOCKER_STACK: ${deliberate}` : needPeer(engineMissing());

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end without blocking the event loop (requests stay in flight meanwhile). */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 600_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, encoding: 'utf8', maxBuffer: 64 * MiB, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ status: code, stdout, stderr: err && code === -1 ? `${stderr}${err.message}` : stderr });
    });
  });
}

async function ok(cmd: string, args: string[], env?: NodeJS.ProcessEnv, timeoutMs?: number): Promise<string> {
  const r = await run(cmd, args, env, timeoutMs);
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const imageTag = `portico-test:${process.pid}`;
const buildStageTag = `portico-test-build:${process.pid}`;
/** The environment every docker-compose call gets: the settings the compose files document. */
const baseEnv: NodeJS.ProcessEnv = {
  ...process.env,
  PORTICO_IMAGE: imageTag,
  PORTICO_APP_DIR: join(fixturesDir, 'docker'),
  PORTICO_APP: 'stack-app.mjs',
  // The classic builder unless told otherwise: the one every engine has, and the one CI uses
  // (docker-compose 1.x builds through the engine's API anyway).
  COMPOSE_DOCKER_CLI_BUILD: process.env.COMPOSE_DOCKER_CLI_BUILD ?? '0',
  DOCKER_BUILDKIT: process.env.DOCKER_BUILDKIT ?? '0',
};

describe('deploy/docker under Docker: the image and both compose stacks', { skip, timeout: 20 * 60_000 }, () => {
  let buildOutput = '';
  /** Seconds each step took, reported (never asserted: the machine's load decides them). */
  const took: string[] = [];
  const timed = async <T>(what: string, step: () => Promise<T>): Promise<T> => {
    const start = performance.now();
    try {
      return await step();
    } finally {
      took.push(`${what} ${((performance.now() - start) / 1000).toFixed(1)} s`);
    }
  };

  before(async () => {
    // NAME=VALUE lines naming the base images (official, or the stand-ins it built or reused).
    const images = await timed('base images', () => ok(join(dockerDir, 'base-images.sh'), []));
    for (const m of images.matchAll(/^(PORTICO_\w+_IMAGE)=(\S+)$/gm)) baseEnv[m[1]!] = m[2]!;
    assert.ok(baseEnv.PORTICO_NODE_IMAGE && baseEnv.PORTICO_NGINX_IMAGE, images);
    const r = await timed('docker-compose build', () =>
      run(compose![0]!, [...compose!.slice(1), '-p', `portico-build-${process.pid}`, '-f', join(dockerDir, 'docker-compose.yml'), 'build', 'portico'], baseEnv),
    );
    buildOutput = `${r.stdout}${r.stderr}`;
    assert.equal(r.status, 0, buildOutput);
    // The classic builder keeps the builder stage's layers as untagged images. The same build
    // with --target build is all cache hits; its tag lets after() remove exactly this run's
    // layers (a prune of untagged images could take those of a build running beside this one).
    await ok(docker!, ['build', '-q', '--target', 'build', '--build-arg', `NODE_IMAGE=${baseEnv.PORTICO_NODE_IMAGE}`, '-f', join(dockerDir, 'Dockerfile'), '-t', buildStageTag, repoRoot], baseEnv);
  });

  after(async () => {
    // The image this run built and its builder stage (with their untagged parent layers). The
    // base images stay: building them again would cost every later run a minute.
    await run(docker!, ['rmi', imageTag, buildStageTag]);
  });

  test('the image: Node 24, non-root, its own HEALTHCHECK, production dependencies only; a build without warnings', async (t) => {
    const [inspect] = JSON.parse(await ok(docker!, ['image', 'inspect', imageTag])) as Array<{
      Size: number;
      Config: { User: string; Healthcheck?: { Test: string[]; Interval: number } };
    }>;
    assert.equal(inspect!.Config.User, 'portico');
    assert.deepEqual(inspect!.Config.Healthcheck?.Test.slice(0, 4), ['CMD', 'node', '/opt/portico/bin/portico.mjs', 'request']);
    const inImage = (...argv: string[]): Promise<string> => ok(docker!, ['run', '--rm', '--entrypoint', argv[0]!, imageTag, ...argv.slice(1)]);
    assert.match(await inImage('node', '--version'), /^v24\./);
    assert.equal((await inImage('id', '-u')).trim(), '10001');
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    // Which of these packages the image's node_modules holds (a directory alone may be an empty scope).
    const present = async (names: string[]): Promise<string[]> =>
      JSON.parse(
        await inImage('node', '-e', "console.log(JSON.stringify(process.argv.slice(1).filter((n) => require('fs').existsSync('/opt/portico/node_modules/' + n + '/package.json'))))", ...names),
      ) as string[];
    const deps = Object.keys(pkg.dependencies);
    assert.deepEqual(await present(deps), deps);
    assert.deepEqual(await present(Object.keys(pkg.devDependencies)), [], 'devDependencies in the image');
    // useradd's "uid outside SYS_UID range" warning, npm's EBADENGINE (a dependency wanting a newer
    // Node), in the builder's log, which does show the steps that print them.
    assert.match(buildOutput, /RUN npm ci [\s\S]*RUN groupadd /);
    assert.doesNotMatch(buildOutput, /useradd[^\n]*warning|EBADENGINE/i);
    const base = JSON.parse(await ok(docker!, ['image', 'inspect', '-f', '{{json .Size}}', baseEnv.PORTICO_NODE_IMAGE!])) as number;
    t.diagnostic(took.join(', '));
    t.diagnostic(`image ${imageTag}: ${(inspect!.Size / 1e6).toFixed(0)} MB, of which ${(base / 1e6).toFixed(0)} MB is ${baseEnv.PORTICO_NODE_IMAGE}`);
  });

  for (const stack of [
    { file: 'docker-compose.yml', name: 'uwsgi', front: 'nginx → uwsgi socket → portico worker' },
    { file: 'docker-compose.serve.yml', name: 'serve', front: 'nginx → proxy_pass → portico serve' },
  ]) {
    describe(`${stack.file} (${stack.front})`, () => {
      const project = `portico-test-${process.pid}-${stack.name}`;
      const env: NodeJS.ProcessEnv = {};
      const dc = (...args: string[]): Promise<string> => ok(compose![0]!, [...compose!.slice(1), '-p', project, '-f', join(dockerDir, stack.file), ...args], env);
      let url = '';
      let since = '';
      const ids: Record<string, string> = {};
      /** `docker logs -f` of the portico container: the test awaits its lines instead of sleeping. */
      let logs: Started | undefined;
      const get = (path: string, init?: RequestInit): Promise<Response> => fetch(`${url}${path}`, { ...init, signal: AbortSignal.timeout(60_000) });
      /** A request seen by a worker: its log line, awaited (each worker logs after it answers). */
      const workerSaw = (path: string): Promise<RegExpMatchArray> => outputLine(logs!, new RegExp(`\\] (GET|POST) ${path.replace(/[?.]/g, '\\$&')} =>`), 30_000);

      before(async () => {
        const port = await freePort();
        // The base images are known once the outer before has run.
        Object.assign(env, baseEnv, { PORTICO_PORT: String(port) });
        url = `http://127.0.0.1:${port}`;
        since = String(Math.floor(Date.now() / 1000) - 1);
        // up waits for portico to be healthy (nginx depends on it with condition: service_healthy).
        await timed(`${stack.name}: up -d`, () => dc('up', '-d', '--no-build'));
        for (const service of ['portico', 'nginx']) ids[service] = (await dc('ps', '-q', service)).trim();
        logs = startProcess(docker!, ['logs', '-f', ids.portico!]);
      });

      after(async () => {
        // Whatever the tests did: the stack goes, with its volume, even after a failure.
        await logs?.stop();
        await run(compose![0]!, [...compose!.slice(1), '-p', project, '-f', join(dockerDir, stack.file), 'down', '-v', '--remove-orphans'], env);
      });

      test('both services become healthy', async (t) => {
        // Docker's own health_status events, replayed from before `up` (--since), so none is missed.
        const events = startProcess(docker!, [
          'events',
          '--since',
          since,
          '--filter',
          `label=com.docker.compose.project=${project}`,
          '--filter',
          'event=health_status',
          '--format',
          '{{index .Actor.Attributes "com.docker.compose.service"}} {{.Status}}',
        ]);
        try {
          await outputLine(events, /^portico health_status: healthy$/m, 120_000);
          await outputLine(events, /^nginx health_status: healthy$/m, 120_000);
          assert.doesNotMatch(events.output(), /unhealthy/);
          t.diagnostic(took.at(-1)!);
        } finally {
          await events.stop();
        }
      });

      test('nginx is published on 127.0.0.1 only, at PORTICO_PORT', async () => {
        assert.equal((await ok(docker!, ['port', ids.nginx!, '80/tcp'])).trim(), `127.0.0.1:${env.PORTICO_PORT}`);
      });

      test('/ goes through nginx to a worker', async () => {
        const res = await get('/');
        assert.equal(res.status, 200);
        assert.equal(await res.text(), 'Hello World');
        const marker = `/marker-${stack.name}`;
        assert.equal((await get(marker)).status, 404);
        await workerSaw(marker);
      });

      test('a static file is served by nginx, never by portico', async () => {
        const res = await get('/static/index.html');
        assert.equal(res.status, 200);
        assert.equal(await res.text(), readFileSync(join(repoRoot, 'examples', 'public', 'index.html'), 'utf8'));
        // A request after it, once logged, means any log line of the static one would be there too.
        await get('/after-static');
        await workerSaw('/after-static');
        assert.doesNotMatch(logs!.output(), /GET \/static\//);
      });

      test('a 20 MiB upload and a 20 MiB download arrive intact (sha256)', async () => {
        const body = randomBytes(20 * MiB);
        const up = await get('/upload', { method: 'POST', body, headers: { 'Content-Type': 'application/octet-stream' } });
        assert.equal(up.status, 200);
        assert.deepEqual(await up.json(), { bytes: body.length, sha256: sha256(body) });
        const down = await get(`/download?bytes=${20 * MiB}`);
        assert.equal(down.status, 200);
        const got = new Uint8Array(await down.arrayBuffer());
        assert.equal(got.length, 20 * MiB);
        assert.equal(sha256(got), down.headers.get('x-content-sha256'));
      });

      test('docker-compose kill -s HUP portico: a chain reload with requests in flight, none failing', async () => {
        const pidsBefore = new Set<string>();
        for (let i = 0; i < 10; i++) pidsBefore.add(await (await get('/pid')).text());
        // Two slow requests held by the old workers while the reload replaces them.
        const slow = ['hup1', 'hup2'].map((id) => get(`/slow?ms=2000&id=${id}`).then(async (r) => `${r.status} ${await r.text()}`));
        await outputLine(logs!, /slow hup1 started/);
        await outputLine(logs!, /slow hup2 started/);
        let reloaded = false;
        const failures: string[] = [];
        const answeredBy = new Set<string>();
        const loop = async (): Promise<void> => {
          while (!reloaded) {
            try {
              const res = await get('/pid');
              const text = await res.text();
              if (res.status === 200 && /^\d+$/.test(text)) answeredBy.add(text);
              else failures.push(`${res.status} ${text}`);
            } catch (err) {
              failures.push(String(err));
            }
          }
        };
        const loops = [loop(), loop(), loop(), loop()];
        await dc('kill', '-s', 'HUP', 'portico');
        await outputLine(logs!, /chain reload done: 2 worker\(s\) serving/, 60_000);
        reloaded = true;
        await Promise.all(loops);
        assert.deepEqual(await Promise.all(slow), ['200 slow hup1 done', '200 slow hup2 done']);
        assert.deepEqual(failures, []);
        // The loops ran across the reload: old workers and new ones both answered them.
        const seen = [...answeredBy];
        assert.ok(seen.some((pid) => pidsBefore.has(pid)) && seen.some((pid) => !pidsBefore.has(pid)), `pids before ${[...pidsBefore]}, during ${seen}`);
        // Every worker now serving is a new process.
        for (let i = 0; i < 10; i++) {
          const pid = await (await get('/pid')).text();
          assert.ok(!pidsBefore.has(pid), `worker ${pid} survived the reload`);
        }
      });

      test('docker-compose stop portico: the in-flight request completes, portico exits 0 within the grace period', async () => {
        const slow = get('/slow?ms=3000&id=stop').then(async (r) => `${r.status} ${await r.text()}`);
        await outputLine(logs!, /slow stop started/);
        const stopped = dc('stop', 'portico');
        assert.equal(await slow, '200 slow stop done');
        await stopped;
        // Exit 0 (not 137): SIGTERM reached the master through tini, and it finished before SIGKILL.
        assert.equal((await ok(docker!, ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', ids.portico!])).trim(), 'exited 0');
        await outputLine(logs!, /portico master \d+: stopped/);
      });

      test('docker-compose down -v leaves no container, network or volume behind', async () => {
        await dc('down', '-v');
        const label = `label=com.docker.compose.project=${project}`;
        assert.equal((await ok(docker!, ['ps', '-aq', '--filter', label])).trim(), '');
        assert.equal((await ok(docker!, ['network', 'ls', '-q', '--filter', label])).trim(), '');
        assert.equal((await ok(docker!, ['volume', 'ls', '-q', '--filter', label])).trim(), '');
        // By name too, in case a Compose version does not label what it creates.
        const names =
          (await ok(docker!, ['ps', '-a', '--format', '{{.Names}}'])) +
          (await ok(docker!, ['network', 'ls', '--format', '{{.Name}}'])) +
          (await ok(docker!, ['volume', 'ls', '--format', '{{.Name}}']));
        assert.ok(!names.includes(project), names);
      });
    });
  }
});
