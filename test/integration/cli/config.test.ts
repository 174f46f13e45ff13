import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, watch, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { execFileSync } from 'node:child_process';
import { optionsMarkdown, OPTIONS_DOC } from '../../../config/config-doc.js';
import { commandFor, resolveConfig } from '../../../config/config-resolve.js';
import { isPorticoError } from '../../../common/errors.js';
import { uwsgiRequest } from '../../../protocol/uwsgi/uwsgi-client.js';
import { startProcess, type Started } from '../../../support/child-process.js';
import { freePort } from '../../../support/free-port.js';
import { GATEWAY_SITE, startNginx } from '../../../support/nginx.js';
import { fixturesDir, porticoBin, repoRoot } from '../../../support/paths.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { needPeer, nginxMissing } from '../../support/peers.js';

const noNginx = needPeer(nginxMissing());

const tmp = makeTmpDir('config');
const started: Started[] = [];
after(async () => {
  await Promise.all(started.map((p) => p.stop('SIGINT')));
  tmp.cleanup();
});

function iniFile(name: string, text: string): string {
  const file = join(tmp.path, name);
  writeFileSync(file, text);
  return file;
}

/** The ini file of seed 000 (a Django deployment on uWSGI), verbatim. */
const SEED_000_INI = `[uwsgi]
chdir = /srv/Django/mydjango
module = config.wsgi:application
home = /home/ubuntu/.pyenv/versions/venv

uid = deploy
gid = deploy

http = :8000

enable-threads = true
master = true
vacuum = true
pidfile = /tmp/mydjango.pid
logto = /var/log/uwsgi/mydjango/@(exec://date +%%Y-%%m-%%d).log
log-reopen = true
`;

describe('resolution', () => {
  it('defaults < ini < environment < command line, each value with its source', () => {
    const file = iniFile('prec.ini', '[portico]\nworkers = 3\nharakiri = 10\nmax-requests = 100\nvacuum = no\nstatic-map = /a=x\nstatic-map = /b=y\n');
    const env = { PORTICO_HARAKIRI: '30', PORTICO_MAX_REQUESTS: '200', PORTICO_TRUSTED_PROXIES: '10.0.0.0/8, unix' };
    const { values, sources } = resolveConfig('serve', ['app.mjs', '--ini', file, '--max-requests', '300'], env);
    assert.equal(values.module, 'app.mjs');
    assert.deepEqual(sources.module, { kind: 'cli' });
    assert.equal(values.processes, '3');
    assert.deepEqual(sources.processes, { kind: 'ini', file, lines: [2] });
    assert.equal(values.harakiri, '30');
    assert.deepEqual(sources.harakiri, { kind: 'env', name: 'PORTICO_HARAKIRI' });
    assert.equal(values['max-requests'], '300');
    assert.deepEqual(sources['max-requests'], { kind: 'cli' });
    assert.equal(values.vacuum, false);
    assert.deepEqual(values.static, ['/a=x', '/b=y']);
    assert.deepEqual(sources.static, { kind: 'ini', file, lines: [6, 7] });
    assert.deepEqual(values['trusted-proxies'], ['10.0.0.0/8', 'unix']);
    assert.equal(values['upstream-timeout'], '60');
    assert.deepEqual(sources['upstream-timeout'], { kind: 'default' });
  });

  it('folds aliases into one option, the last on the command line winning', () => {
    assert.equal(resolveConfig('worker', ['a.mjs', '-p', '3', '-w', '5'], {}).values.processes, '5');
    assert.equal(resolveConfig('worker', ['a.mjs', '--timeout', '7'], {}).values.harakiri, '7');
    assert.equal(resolveConfig('worker', ['a.mjs', '--no-master'], {}).values.master, false);
    assert.equal(resolveConfig('worker', ['a.mjs'], { PORTICO_WORKERS: '4' }).values.processes, '4');
  });

  it('names an unknown ini key and the nearest known one; warns about the uWSGI-only ones', () => {
    const bad = iniFile('bad.ini', '[uwsgi]\nmaster = true\nprocesess = 4\n');
    assert.throws(
      () => resolveConfig('worker', ['--ini', bad], {}),
      (err: unknown) => {
        assert.ok(isPorticoError(err));
        assert.match(err.message, /bad\.ini:3: unknown option "procesess" \(did you mean "processes"\?\)/);
        return true;
      },
    );
    const uwsgi = iniFile('uwsgi-only.ini', '[uwsgi]\nhome = /venv\nenable-threads = true\nlog-reopen = true\nupstream = uwsgi://x\n');
    const { warnings } = resolveConfig('worker', ['--ini', uwsgi], {});
    assert.equal(warnings.length, 4);
    assert.match(warnings[0]!, /:2: home ignored: .*virtualenv/);
    assert.match(warnings[1]!, /:3: enable-threads ignored/);
    assert.match(warnings[2]!, /:4: log-reopen ignored: .*SIGUSR1/);
    assert.match(warnings[3]!, /:5: upstream ignored: not an option of portico worker/);
    assert.throws(() => resolveConfig('worker', ['--ini', iniFile('b.ini', '[uwsgi]\nmaster = maybe\n')], {}), /master must be true\/false/);
  });

  it('picks the command from the configuration: http → serve, socket alone → worker', () => {
    assert.equal(commandFor(['--ini', iniFile('h.ini', '[uwsgi]\nhttp = :8000\n')], {}).command, 'serve');
    assert.equal(commandFor(['--ini', iniFile('s.ini', '[uwsgi]\nsocket = /tmp/x.sock\n')], {}).command, 'worker');
    assert.equal(commandFor(['--ini', iniFile('s2.ini', '[uwsgi]\nmodule = a.mjs\n')], { PORTICO_HTTP: ':80' }).command, 'serve');
    assert.match(commandFor(['--ini', iniFile('hs.ini', '[uwsgi]\nhttp = :8000\nsocket = x.sock\n')], {}).note!, /socket is not used/);
    assert.throws(() => commandFor(['--ini', iniFile('n.ini', '[uwsgi]\nmodule = a.mjs\n')], {}), /nothing to run/);
  });
});

describe('portico config and --help', () => {
  it('prints the effective configuration and where each value came from', () => {
    const file = iniFile('show.ini', '[uwsgi]\nsocket = /tmp/show.sock\nmodule = app.mjs\nhome = /venv\n');
    const out = execFileSync(process.execPath, [porticoBin, 'config', '--ini', file, '--max-requests', '9'], { encoding: 'utf8', env: { ...process.env, PORTICO_HARAKIRI: '30' } });
    assert.match(out, /^# portico worker/);
    assert.match(out, new RegExp(`^socket +/tmp/show\\.sock +# ini ${file}:2$`, 'm'));
    assert.match(out, /^harakiri +30 +# env PORTICO_HARAKIRI$/m);
    assert.match(out, /^max-requests +9 +# command line$/m);
    assert.match(out, /^buffer-size +65535 +# default$/m);
    assert.match(out, /^# warning: .*home ignored/m);
  });

  it('portico --help and portico CMD --help list every option with its default', () => {
    const top = execFileSync(process.execPath, [porticoBin, '--help'], { encoding: 'utf8' });
    for (const o of ['--upstream-timeout', '--processes', '--workers', '--chdir', '--link']) assert.ok(top.includes(o), o);
    const worker = execFileSync(process.execPath, [porticoBin, 'worker', '--help'], { encoding: 'utf8' });
    assert.match(worker, /--harakiri SECONDS .*\(default 0\)/);
    assert.match(worker, /--timeout SECONDS +alias of --harakiri/);
    assert.match(worker, /--vacuum .*\(default true\)/);
  });
});

describe('docs/options.md', () => {
  it('is what the schema generates (npm run docs:options)', () => {
    assert.equal(readFileSync(OPTIONS_DOC, 'utf8'), optionsMarkdown(), 'docs/options.md is stale: run npm run docs:options');
  });
});

/** Resolves when a file in `dir` matching `name` contains `re`: the master logs there, not on stderr (logto). */
function waitForLog(dir: string, name: RegExp, re: RegExp, proc: Started): Promise<{ file: string; match: RegExpMatchArray }> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      for (const f of readdirSync(dir).filter((n) => name.test(n))) {
        const m = readFileSync(join(dir, f), 'utf8').match(re);
        if (m) {
          watcher.close();
          clearTimeout(timer);
          resolve({ file: f, match: m });
          return true;
        }
      }
      return false;
    };
    const watcher = watch(dir, () => void check());
    const timer = setTimeout(() => {
      watcher.close();
      reject(new Error(`no ${re} in ${dir} within 20 s; output:\n${proc.output()}`));
    }, 20_000);
    proc.child.once('exit', (code) => {
      if (!check()) {
        watcher.close();
        clearTimeout(timer);
        reject(new Error(`portico exited (${String(code)}); output:\n${proc.output()}`));
      }
    });
    check();
  });
}

/**
 * Seed 000's file with only paths and module changed: chdir, pidfile and the log directory into a
 * temp dir, `module` the test fixture, and the address where the test can reach it. On a machine
 * without the seed's `deploy` user, uid/gid name the current user instead (ignored unless root).
 */
function adaptSeed(dir: string, address: string): string {
  const user = userInfo().username;
  let ini = SEED_000_INI.replace('chdir = /srv/Django/mydjango', `chdir = ${dir}`)
    .replace('module = config.wsgi:application', `module = ${join(fixturesDir, 'fetch-app.mjs')}`)
    .replace('http = :8000', address)
    .replace('pidfile = /tmp/mydjango.pid', `pidfile = ${join(dir, 'mydjango.pid')}`)
    .replace('logto = /var/log/uwsgi/mydjango/', `logto = ${join(dir, 'log')}/`);
  ini = ini.replace('uid = deploy', `uid = ${user}`).replace('gid = deploy', `gid = ${user}`);
  mkdirSync(join(dir, 'log'), { recursive: true }); // as the seed says: mkdir -p /var/log/uwsgi/mydjango
  return iniFile(`${address.split(' ')[0]}-seed.ini`, ini);
}

describe('deploy/portico.ini', () => {
  it('is a valid config: every key known, it runs the worker master on its socket', () => {
    const file = join(repoRoot, 'deploy', 'portico.ini');
    assert.equal(commandFor(['--ini', file], {}).command, 'worker');
    const { values, warnings } = resolveConfig('worker', ['--ini', file], {});
    assert.deepEqual(warnings, []);
    assert.equal(values.socket, '/run/portico/portico.sock');
    assert.equal(values.module, 'app.mjs');
    assert.equal(values.processes, '4');
    assert.equal(values.harakiri, '30');
  });
});

describe('portico --ini with seed 000', () => {
  it('socket: a worker master for uwsgi_pass answers a uwsgi request; warns about home, enable-threads, log-reopen', async () => {
    const dir = join(tmp.path, 'seed-socket');
    mkdirSync(dir);
    const socket = join(dir, 'mydjango.sock');
    const file = adaptSeed(dir, `socket = ${socket}`);
    const proc = startProcess(process.execPath, [porticoBin, '--ini', file], { env: { ...process.env, PORTICO_WORKERS: '2' } });
    started.push(proc);
    const logs = join(dir, 'log');
    const { file: log } = await waitForLog(logs, /^\d{4}-\d{2}-\d{2}\.log$/, /2 worker\(s\) of .*fetch-app\.mjs accepting on/, proc);
    assert.equal(log, `${execFileSync('date', ['+%Y-%m-%d'], { encoding: 'utf8' }).trim()}.log`);
    for (const key of ['home', 'enable-threads', 'log-reopen']) assert.match(proc.output(), new RegExp(`warning: .*:\\d+: ${key} ignored: `));
    assert.equal(readFileSync(join(dir, 'mydjango.pid'), 'utf8').trim(), String(proc.child.pid));
    const res = await uwsgiRequest({ socket, path: '/hello?x=1' });
    assert.equal(res.status, 200);
    assert.deepEqual((JSON.parse(res.body.toString()) as { query: unknown }).query, { x: '1' });
    assert.equal(await proc.stop('SIGTERM'), 0);
    assert.equal(existsSync(socket), false, 'vacuum = true removes the socket');
    assert.equal(existsSync(join(dir, 'mydjango.pid')), false);
  });

  it('http: the gateway and its workers answer HTTP, behind real nginx (proxy_pass)', { skip: noNginx }, async () => {
    const dir = join(tmp.path, 'seed-http');
    mkdirSync(dir);
    const port = await freePort();
    const file = adaptSeed(dir, `http = 127.0.0.1:${port}`);
    const proc = startProcess(process.execPath, [porticoBin, '--ini', file], { env: { ...process.env, PORTICO_WORKERS: '1' } });
    started.push(proc);
    await waitForLog(join(dir, 'log'), /\.log$/, /worker\(s\) of .* behind (http:\/\/\S+)/, proc);
    const nginx = await startNginx(tmp.path, `127.0.0.1:${port}`, '', GATEWAY_SITE);
    try {
      const res = await fetch(`${nginx.url}/hi`);
      assert.equal(res.status, 200);
      const seen = (await res.json()) as { path: string; headers: Record<string, string> };
      assert.equal(seen.path, '/hi');
      assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1', 'nginx in front: its X-Forwarded-For reached the app');
    } finally {
      await nginx.stop();
    }
    assert.equal(await proc.stop('SIGTERM'), 0);
  });
});

describe('the command line: --version, and a misspelt flag', () => {
  it('portico --version prints the version of package.json', () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    assert.equal(execFileSync(process.execPath, [porticoBin, '--version'], { encoding: 'utf8' }), `portico ${pkg.version} (Node ${process.version})\n`);
  });

  it('an unknown flag is one coded line naming the nearest real one, for every command', () => {
    for (const [args, want] of [
      [['worker', 'app.mjs', '--procesess', '2'], /^portico: PORTICO_ERR_INVALID_OPTION: .*unknown option --procesess for portico worker \(did you mean --processes\?\)/],
      [['serve', 'app.mjs', '--htp', ':1'], /unknown option --htp for portico serve \(did you mean --http\?\)/],
      [['gateway', '--upstrem', 'uwsgi://unix:/x'], /unknown option --upstrem for portico gateway \(did you mean --upstream\?\)/],
    ] as const) {
      try {
        execFileSync(process.execPath, [porticoBin, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
        assert.fail(`${args.join(' ')} exited 0`);
      } catch (err) {
        const e = err as { status: number; stderr: string };
        assert.equal(e.status, 1, args.join(' '));
        assert.match(e.stderr, want);
        assert.equal(e.stderr.trim().split('\n').length, 1, e.stderr);
      }
    }
  });
});
