// uWSGI's separate logs (cli/log-options.ts, common/logger.ts): `req-logger = file:PATH` takes the
// request lines, `logger = file:PATH` everything else. Real uWSGI and portico are started the same
// way (the same ini keys, the same flags) and each line is looked for in each file and on stdio:
// both must put it in the same place. Then what uWSGI's plain file: loggers lack: --log-maxsize
// and SIGUSR1 apply to each file; and the gateway's access lines follow --req-logger too.
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { uwsgiRequest } from '../../../protocol/uwsgi/uwsgi-client.js';
import { startProcess, type Started } from '../../../support/child-process.js';
import { fileContent, fileText } from '../../support/file-text.js';
import { freePort } from '../../../support/free-port.js';
import { fixturesDir, porticoBin } from '../../../support/paths.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { needPeer, uwsgiMissing } from '../../support/peers.js';

const noUwsgi = needPeer(uwsgiMissing());

type Place = 'main' | 'req' | 'stdio';
type Kind = 'start' | 'request' | 'error' | 'stdout' | 'stderr';

/** What the apps print (test/fixtures/log-app.py and .mjs), word for word. */
const PRINTED = { stdout: /^printed to stdout by the app$/m, stderr: /^printed to stderr by the app$/m };

/** The same events in each server's words. */
const LINES: Record<'uwsgi' | 'portico', Record<Kind, RegExp>> = {
  uwsgi: { start: /spawned uWSGI worker 1 /, request: /\] GET \/throw => generated/, error: /RuntimeError: boom from the wsgi app/, ...PRINTED },
  portico: { start: /1 worker\(s\) of .* accepting on /, request: /\] GET \/throw => generated/, error: /PORTICO_ERR_APP_EXCEPTION: GET \/throw/, ...PRINTED },
};

interface Server {
  proc: Started;
  socket: string;
  files: Record<'main' | 'req', string>;
}

function startServer(which: 'uwsgi' | 'portico', dir: string, logArgs: (files: Server['files']) => string[]): Server {
  mkdirSync(dir);
  const socket = join(dir, 's.sock');
  const files = { main: join(dir, 'main.log'), req: join(dir, 'req.log') };
  const proc =
    which === 'uwsgi'
      ? startProcess('/usr/bin/uwsgi', [
          '--strict',
          '--die-on-term',
          '--plugin',
          'python3,logfile',
          '--master',
          '--processes',
          '1',
          '--socket',
          socket,
          '--wsgi-file',
          join(fixturesDir, 'log-app.py'),
          '--need-app',
          ...logArgs(files),
        ])
      : startProcess(process.execPath, [porticoBin, 'worker', join(fixturesDir, 'log-app.mjs'), '--socket', socket, '--processes', '1', ...logArgs(files)]);
  return { proc, socket, files };
}

/** Where `re` is found: each file, and the process's stdout/stderr. */
function placesOf(s: Server, re: RegExp): Place[] {
  const texts: Record<Place, string> = { main: fileContent(s.files.main), req: fileContent(s.files.req), stdio: s.proc.output() };
  return (Object.keys(texts) as Place[]).filter((p) => re.test(texts[p]));
}

/** Resolves once `re` is in `place` of the server. */
function lineIn(s: Server, place: Place, re: RegExp): Promise<unknown> {
  return place === 'stdio' ? s.proc.waitFor(re) : fileText(s.files[place], re, s.proc);
}

/** Resolves with the first file in `dir` named `prefix.UNIXTIME` (a rotation), watching for it. */
function rotated(dir: string, prefix: string): Promise<string> {
  const re = new RegExp(`^${prefix.replace('.', '\\.')}\\.\\d+$`);
  const find = (): string | undefined => readdirSync(dir).find((f) => re.test(f));
  return new Promise((resolve, reject) => {
    const done = (f: string): void => {
      watcher.close();
      clearTimeout(timer);
      resolve(join(dir, f));
    };
    const watcher = watch(dir, () => {
      const f = find();
      if (f) done(f);
    });
    const timer = setTimeout(() => {
      watcher.close();
      reject(new Error(`no ${prefix}.UNIXTIME in ${dir}: ${readdirSync(dir).join(', ')}`));
    }, 15_000);
    const f = find();
    if (f) done(f);
  });
}

describe('req-logger and logger: separate request and main logs, as uWSGI has them', { timeout: 90_000 }, () => {
  const tmp = makeTmpDir('log-files');
  after(() => tmp.cleanup());

  const configs: Array<{ name: string; args: (dir: string, f: Server['files']) => string[]; expect: Record<Kind, Place[]> }> = [
    {
      // uWSGI's ini keys, read by both from one [uwsgi] section each.
      name: 'ini: req-logger = file:A and logger = file:B',
      args: (dir, f) => {
        const ini = join(dir, 'logs.ini');
        writeFileSync(ini, `[uwsgi]\nreq-logger = file:${f.req}\nlogger = file:${f.main}\n`);
        return ['--ini', ini];
      },
      expect: { start: ['main'], request: ['req'], error: ['main'], stdout: ['main'], stderr: ['main'] },
    },
    { name: '--req-logger file:A alone', args: (_d, f) => ['--req-logger', `file:${f.req}`], expect: { start: ['stdio'], request: ['req'], error: ['stdio'], stdout: ['stdio'], stderr: ['stdio'] } },
    { name: '--logger file:B alone', args: (_d, f) => ['--logger', `file:${f.main}`], expect: { start: ['main'], request: ['main'], error: ['main'], stdout: ['main'], stderr: ['main'] } },
  ];
  for (const [i, c] of configs.entries()) {
    it(`${c.name}: each line lands where uWSGI puts it`, { skip: noUwsgi }, async () => {
      const servers = (['uwsgi', 'portico'] as const).map((which) => {
        const dir = join(tmp.path, `c${i}-${which}`);
        return { which, server: startServer(which, dir, (f) => c.args(dir, f)) };
      });
      try {
        await Promise.all(servers.map(({ which, server }) => lineIn(server, c.expect.start[0]!, LINES[which].start)));
        for (const { server } of servers) {
          // uWSGI answers an exception with nothing at all: the client's error is expected.
          await uwsgiRequest({ socket: server.socket, path: '/throw' }).catch(() => null);
          await uwsgiRequest({ socket: server.socket, path: '/print' });
        }
        // Each line awaited where uWSGI puts it; then every line is looked for everywhere.
        await Promise.all(servers.flatMap(({ which, server }) => (['request', 'error', 'stdout', 'stderr'] as const).map((k) => lineIn(server, c.expect[k][0]!, LINES[which][k]))));
      } finally {
        for (const { server } of servers) await server.proc.stop();
      }
      const [uwsgi, portico] = servers.map(({ which, server }) => Object.fromEntries((Object.keys(LINES[which]) as Kind[]).map((k) => [k, placesOf(server, LINES[which][k])])));
      assert.deepEqual(uwsgi, c.expect, `uWSGI:\n${servers[0]!.server.proc.output()}`);
      assert.deepEqual(portico, uwsgi, `portico:\n${servers[1]!.server.proc.output()}`);
    });
  }

  it("--log-maxsize and a logger's own maxsize rotate each file; SIGUSR1 reopens both; as root with --uid the files are that user's", async () => {
    const dir = join(tmp.path, 'rotate');
    mkdirSync(dir);
    // --uid's user renames and recreates files in here.
    chmodSync(dir, 0o777);
    const main = join(dir, 'main.log');
    const req = join(dir, 'req.log');
    const sock = join(dir, 's.sock');
    const root = process.getuid?.() === 0;
    const nobody = root ? Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' })) : -1;
    const proc = startProcess(process.execPath, [
      porticoBin,
      'worker',
      join(fixturesDir, 'fetch-app.mjs'),
      '--socket',
      sock,
      '--processes',
      '1',
      '--logger',
      `file:logfile=${main},maxsize=1500`,
      '--req-logger',
      `file:${req}`,
      '--log-maxsize',
      '1500',
      ...(root ? ['--uid', 'nobody', '--gid', 'nogroup'] : []),
    ]);
    try {
      await fileText(main, /accepting on/, proc);
      if (root) for (const f of [main, req]) assert.equal(statSync(f).uid, nobody, `${f} belongs to --uid's user`);
      const rotations = Promise.all([rotated(dir, 'main.log'), rotated(dir, 'req.log')]);
      // Two stacks take the main log past its 1500 bytes, twelve request lines the request log.
      for (let i = 0; i < 2; i++) assert.equal((await uwsgiRequest({ socket: sock, path: '/throw' })).status, 500);
      for (let i = 0; i < 12; i++) assert.equal((await uwsgiRequest({ socket: sock, path: `/r${i}` })).status, 200);
      const [oldMain, oldReq] = await rotations;
      // The new files, once reopened: the master notes a rotation in the new main log, and a
      // worker's next request line is in the new request log.
      await fileText(main, /--log-maxsize: /, proc);
      await uwsgiRequest({ socket: sock, path: '/r12' });
      await fileText(req, /\] GET \/r12 => /, proc);
      assert.match(readFileSync(oldMain!, 'utf8'), /PORTICO_ERR_APP_EXCEPTION/);
      assert.doesNotMatch(readFileSync(oldReq!, 'utf8') + fileContent(req), /PORTICO_ERR_|accepting on/, 'only request lines in the request log');
      // logrotate's way: move both, SIGUSR1, and every process writes to new files.
      renameSync(main, `${main}.moved`);
      renameSync(req, `${req}.moved`);
      proc.child.kill('SIGUSR1');
      await fileText(main, /SIGUSR1: log files reopened/, proc);
      await uwsgiRequest({ socket: sock, path: '/after' });
      await fileText(req, /\] GET \/after => /, proc);
      assert.doesNotMatch(readFileSync(`${req}.moved`, 'utf8'), /\/after/);
      if (root) for (const f of [main, req]) assert.equal(statSync(f).uid, nobody, `${f} reopened as --uid's user`);
    } finally {
      assert.equal(await proc.stop(), 0);
    }
    const all = (prefix: string): string =>
      readdirSync(dir)
        .filter((f) => f.startsWith(prefix))
        .map((f) => readFileSync(join(dir, f), 'utf8'))
        .join('');
    assert.equal(
      all('req.log')
        .split('\n')
        .filter((l) => / GET \/r\d+ => /.test(l)).length,
      13,
      'every request line is in one of the request files',
    );
    // Each rotation is told in the main log (whichever of its files was current then).
    for (const f of [main, req]) assert.ok(all('main.log').includes(`--log-maxsize: ${f} passed 1500 bytes: rotated to ${f}.`), f);
  });

  it("the gateway's access lines go to --req-logger too (portico serve and portico gateway); the gateway reopens on SIGUSR1", async () => {
    const dir = join(tmp.path, 'front');
    mkdirSync(join(dir, 'static'), { recursive: true });
    writeFileSync(join(dir, 'static', 'a.txt'), 'a');
    const files = (name: string): Record<'main' | 'req', string> => ({ main: join(dir, `${name}-main.log`), req: join(dir, `${name}-req.log`) });
    const serve = files('serve');
    const gateway = files('gateway');
    const [servePort, gatewayPort] = [await freePort(), await freePort()];
    const procs = [
      startProcess(process.execPath, [
        porticoBin,
        'serve',
        join(fixturesDir, 'fetch-app.mjs'),
        '--http',
        `127.0.0.1:${servePort}`,
        '--workers',
        '1',
        '--static',
        `/s=${join(dir, 'static')}`,
        '--req-logger',
        `file:${serve.req}`,
        '--logger',
        `file:${serve.main}`,
      ]),
      // Nothing listens at the upstream: a 502, which the gateway logs as an access line and an error.
      startProcess(process.execPath, [
        porticoBin,
        'gateway',
        '--http',
        `127.0.0.1:${gatewayPort}`,
        '--upstream',
        `uwsgi://unix:${join(dir, 'none.sock')}`,
        '--req-logger',
        `file:${gateway.req}`,
        '--logger',
        `file:${gateway.main}`,
      ]),
    ] as const;
    try {
      await Promise.all([fileText(serve.main, /behind http:/, procs[0]), fileText(gateway.main, /http on http:/, procs[1])]);
      assert.equal((await fetch(`http://127.0.0.1:${servePort}/s/a.txt`)).status, 200);
      assert.equal((await fetch(`http://127.0.0.1:${servePort}/app`)).status, 200);
      assert.equal((await fetch(`http://127.0.0.1:${gatewayPort}/x`)).status, 502);
      await fileText(serve.req, /"GET \/s\/a\.txt HTTP\/1\.1" 200 /, procs[0]);
      await fileText(serve.req, /\] GET \/app => /, procs[0]);
      await fileText(gateway.req, /"GET \/x HTTP\/1\.1" 502 /, procs[1]);
      // (Error lines name their request too, `PORTICO_ERR_UPSTREAM_CONNECT: GET /x: ...`, and stay here.)
      for (const f of [serve.main, gateway.main]) assert.doesNotMatch(fileContent(f), /"GET \/|\] GET \//, `${f} has no access or request line`);
      for (const f of [serve.req, gateway.req]) assert.doesNotMatch(fileContent(f), /portico |PORTICO_ERR_/, `${f} has request lines only`);
      renameSync(gateway.req, `${gateway.req}.moved`);
      procs[1].child.kill('SIGUSR1');
      await fileText(gateway.main, /SIGUSR1: log files reopened/, procs[1]);
      await fetch(`http://127.0.0.1:${gatewayPort}/y`);
      await fileText(gateway.req, /"GET \/y HTTP\/1\.1" 502 /, procs[1]);
    } finally {
      for (const p of procs) assert.equal(await p.stop(), 0);
    }
    for (const p of procs) assert.equal(p.output(), '', 'nothing on stdio: every line went to a file');
  });

  it("refuses uWSGI's other logger plugins and forms at start, with the forms it takes (flags and ini)", () => {
    const ini = join(tmp.path, 'syslog.ini');
    writeFileSync(ini, `[uwsgi]\nsocket = ${join(tmp.path, 'never.sock')}\nmodule = ${join(fixturesDir, 'fetch-app.mjs')}\nlogger = rsyslog:127.0.0.1:514,myapp\n`);
    const worker = ['worker', join(fixturesDir, 'fetch-app.mjs'), '--socket', join(tmp.path, 'never.sock')];
    const cases: Array<[string[], RegExp]> = [
      [[...worker, '--logger', 'syslog'], /PORTICO_ERR_UNSUPPORTED_LOGGER: .*--logger syslog: uWSGI's syslog logger is not supported; .*file:PATH/],
      [[...worker, '--req-logger', 'socket:127.0.0.1:514'], /PORTICO_ERR_UNSUPPORTED_LOGGER: .*--req-logger socket:127\.0\.0\.1:514: uWSGI's socket logger/],
      [[...worker, '--logger', join(tmp.path, 'a.log')], /PORTICO_ERR_UNSUPPORTED_LOGGER: .*a path alone names no logger plugin/],
      [[...worker, '--logger', 'file'], /PORTICO_ERR_UNSUPPORTED_LOGGER: .*--logger file: no file named/],
      [[...worker, '--req-logger', `file:logfile=${join(tmp.path, 'a.log')},backupname=x`], /PORTICO_ERR_UNSUPPORTED_LOGGER: .*backupname not supported/],
      [[...worker, '--logger', `file:${join(tmp.path, 'a.log')}`, '--logger', `file:${join(tmp.path, 'b.log')}`], /PORTICO_ERR_UNSUPPORTED_LOGGER: .*given 2 times/],
      [['worker', '--ini', ini], /PORTICO_ERR_UNSUPPORTED_LOGGER: .*rsyslog:127\.0\.0\.1:514,myapp: uWSGI's rsyslog logger/],
      [['gateway', '--http', '127.0.0.1:0', '--upstream', 'uwsgi://unix:/x.sock', '--req-logger', 'zeromq:tcp://127.0.0.1:5555'], /PORTICO_ERR_UNSUPPORTED_LOGGER: .*zeromq/],
      [[...worker, '--logto', join(tmp.path, 'a.log'), '--logger', `file:${join(tmp.path, 'b.log')}`], /PORTICO_ERR_INVALID_OPTION: .*both name the main log/],
      [[...worker, '--logger', `file:${join(tmp.path, 'missing', 'b.log')}`], /PORTICO_ERR_INVALID_OPTION: .*--logger .*directory .*missing does not exist/],
    ];
    for (const [args, why] of cases) {
      const r = spawnSync(process.execPath, [porticoBin, ...args], { encoding: 'utf8' });
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, why);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    }
  });
});
