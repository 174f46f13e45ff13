import { strict as assert } from 'node:assert';
import { execFile, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { listenAddressOption } from '../../../cli/option-checks.js';
import { uwsgiRequest } from '../../../protocol/uwsgi/uwsgi-client.js';
import { freePort } from '../../../support/free-port.js';
import { fixturesDir, porticoBin } from '../../../support/paths.js';
import { startProcess, type Started } from '../../../support/child-process.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

const run = promisify(execFile);

async function failingStart(args: string[]): Promise<{ code: number; stderr: string; pid: number }> {
  // SIGKILL: a server that wrongly started must not outlive the test (its workers follow it).
  const started = run(process.execPath, [porticoBin, ...args], { timeout: 10_000, killSignal: 'SIGKILL' });
  const pid = started.child.pid!;
  try {
    await started;
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr, pid };
  }
  return assert.fail('portico exited 0');
}

describe('portico worker: loading the app', () => {
  const tmp = makeTmpDir('cli');
  after(() => tmp.cleanup());
  const sock = (name: string): string => join(tmp.path, `${name}.sock`);

  it('a missing file exits non-zero and names it', async () => {
    const r = await failingStart(['worker', 'nope/missing.mjs', '--socket', sock('a')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /PORTICO_ERR_APP_LOAD: .*nope\/missing\.mjs: no such file/);
  });

  it('an export that matches no kind exits non-zero and says the rules', async () => {
    const r = await failingStart(['worker', join(fixturesDir, 'no-kind.mjs'), '--socket', sock('b')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no-kind\.mjs: export "default" is a function of 4 parameters, which matches no kind/);
    assert.match(r.stderr, /a function of one parameter is a fetch app/);
  });

  it('a module that throws at import exits non-zero with its stack', async () => {
    const r = await failingStart(['worker', join(fixturesDir, 'import-fails.mjs'), '--socket', sock('c')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /import-fails\.mjs: import failed: Error: this module fails at import/);
  });

  it('a syntax error is one line naming FILE:LINE:COLUMN, in an ES module and in CommonJS, with and without the master', async () => {
    const esm = join(tmp.path, 'broken.mjs');
    writeFileSync(esm, 'export default (request) => {\n  return new Response("x"\n};\n');
    const cjs = join(tmp.path, 'broken.cjs');
    writeFileSync(cjs, 'module.exports = function (request) {\n  return 1 +;\n};\n');
    const [e1, e2, c1] = await Promise.all([
      failingStart(['worker', esm, '--socket', sock('syntax-esm'), '--no-master']),
      failingStart(['worker', esm, '--socket', sock('syntax-esm-master'), '--processes', '1']),
      failingStart(['worker', cjs, '--socket', sock('syntax-cjs'), '--no-master']),
    ]);
    const esmLine = new RegExp(`^portico: PORTICO_ERR_APP_LOAD: .*: import failed: ${esm}:2:23: SyntaxError: missing \\) after argument list$`, 'm');
    assert.equal(e1.code, 1);
    assert.match(oneErrorLine(e1.stderr, 'PORTICO_ERR_APP_LOAD'), esmLine);
    // Under the master the worker's line comes first, then the master's own (its worker never got ready).
    assert.equal(e2.code, 1);
    assert.match(e2.stderr, esmLine);
    assert.doesNotMatch(e2.stderr, /^\s+at /m);
    assert.equal(c1.code, 1);
    assert.match(oneErrorLine(c1.stderr, 'PORTICO_ERR_APP_LOAD'), new RegExp(`${cjs}:2:13: SyntaxError: Unexpected token ';'$`));
  });

  it('--chunked-input-timeout must be a positive number of seconds', async () => {
    for (const [value, why] of [
      ['0', /--chunked-input-timeout must be more than 0/],
      ['soon', /--chunked-input-timeout must be a number of seconds, got soon/],
    ] as const) {
      // With the master too: it checks before it starts workers that would each die of the value.
      for (const master of ['--no-master', '--master']) {
        const r = await failingStart(['worker', join(fixturesDir, 'fetch-app.mjs'), master, '--chunked-input-timeout', value, '--socket', sock(`t${value}`)]);
        assert.equal(r.code, 1, master);
        assert.match(r.stderr, /PORTICO_ERR_INVALID_OPTION/, master);
        assert.match(r.stderr, why, master);
      }
    }
  });

  it('a forced kind the export cannot be is refused', async () => {
    const r = await failingStart(['worker', join(fixturesDir, 'server-app.mjs'), '--kind', 'wsgi', '--socket', sock('d')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot run as a wsgi app/);
  });

  it('an http.Server export runs as a node app, with repeated headers joined as Node does', async () => {
    const s = sock('server');
    const w = await startWorker(join(fixturesDir, 'server-app.mjs'), s);
    await w.waitFor(/node app .*server-app\.mjs:default on/);
    const res = await uwsgiRequest({
      socket: s,
      path: '/x?y',
      headers: [
        ['Cookie', 'a=1'],
        ['Cookie', 'b=2'],
        ['X-Custom', 'p'],
        ['X-Custom', 'q'],
      ],
    });
    assert.deepEqual(JSON.parse(res.body.toString()), { kind: 'server', url: '/x?y', cookie: 'a=1; b=2', custom: 'p, q' });
    await w.stop();
  });

  it('MODULE:exportName picks an export of a CommonJS module; the name decides nothing else', async () => {
    const s1 = sock('cjs-wsgi');
    const wsgi = await startWorker(`${join(fixturesDir, 'named-exports.cjs')}:application`, s1);
    const r1 = await uwsgiRequest({ socket: s1, method: 'PUT', body: 'x' });
    assert.match(r1.body.toString(), /^wsgi PUT http \d+\.\d+\.\d+$/);
    await wsgi.stop();

    const s2 = sock('cjs-fetch');
    const fetchApp = await startWorker(`${join(fixturesDir, 'named-exports.cjs')}:handler`, s2);
    await fetchApp.waitFor(/fetch app .*named-exports\.cjs:handler on/);
    assert.equal((await uwsgiRequest({ socket: s2, method: 'DELETE' })).body.toString(), 'fetch DELETE');
    await fetchApp.stop();
  });
});

describe('portico worker: logging', () => {
  const tmp = makeTmpDir('logging');
  after(() => tmp.cleanup());

  it('--log-format json writes one JSON object per request', async () => {
    const s = join(tmp.path, 'json.sock');
    const w = await startWorker(join(fixturesDir, 'behaviour-app.mjs'), s, ['--log-format', 'json']);
    await uwsgiRequest({ socket: s, path: '/json-log?x=1' });
    const [line] = await w.waitFor(/\{[^\n]*"\/json-log\?x=1"[^\n]*\}/);
    const rec = JSON.parse(line) as { level: number; pid: number; req: Record<string, unknown> };
    assert.equal(rec.pid, w.child.pid);
    assert.equal(rec.req.method, 'GET');
    assert.equal(rec.req.status, 200);
    assert.equal(rec.req.bodyBytes, 2);
    await w.stop();
  });

  it('--disable-logging leaves out request lines but keeps errors', async () => {
    const s = join(tmp.path, 'quiet.sock');
    const w = await startWorker(join(fixturesDir, 'behaviour-app.mjs'), s, ['--disable-logging']);
    await uwsgiRequest({ socket: s, path: '/quiet' });
    await uwsgiRequest({ socket: s, path: '/stream-then-throw' }).catch(() => undefined);
    await w.waitFor(/PORTICO_ERR_APP_EXCEPTION/);
    assert.doesNotMatch(w.output(), /GET \/quiet =>/);
    await w.stop();
  });
});

/** The error line portico printed, after checking it is one coded line and no stack trace. */
function oneErrorLine(stderr: string, code: string): string {
  assert.doesNotMatch(stderr, /^\s+at /m, `a stack trace:\n${stderr}`);
  const lines = stderr.split('\n').filter((l) => l.includes(code));
  assert.equal(lines.length, 1, `one ${code} line expected:\n${stderr}`);
  assert.match(lines[0]!, new RegExp(`^portico: ${code}: `));
  return lines[0]!;
}

/** A TCP listener another process would hold: the port is taken for as long as it runs. */
async function holdPort(): Promise<{ port: number; close(): Promise<void> }> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return { port: (srv.address() as AddressInfo).port, close: () => new Promise((resolve) => srv.close(() => resolve())) };
}

/** The backlog of the listening socket (`ss` shows it as Send-Q): what --listen set. */
function listenBacklog(filter: string[]): number {
  const out = execFileSync('ss', ['-lnH', ...filter], { encoding: 'utf8' }).trim();
  const row = out.split('\n')[0]!.trim().split(/\s+/);
  // u_str LISTEN 0 37 PATH ... / LISTEN 0 37 ADDR:PORT ...
  return Number(row[row[0] === 'LISTEN' ? 2 : 3]);
}

describe('portico worker: binding', () => {
  const tmp = makeTmpDir('bind');
  after(() => tmp.cleanup());
  const APP = join(fixturesDir, 'master-app.mjs');

  it('a TCP port another process holds is refused with one line, with and without the master', async () => {
    const held = await holdPort();
    try {
      for (const mode of [['--no-master'], ['--processes', '1']]) {
        const r = await failingStart(['worker', APP, '--socket', `127.0.0.1:${held.port}`, ...mode]);
        assert.equal(r.code, 1, mode.join(' '));
        assert.match(oneErrorLine(r.stderr, 'PORTICO_ERR_SOCKET_IN_USE'), new RegExp(`127\\.0\\.0\\.1:${held.port} is in use`));
        assert.doesNotMatch(r.stderr, /accepting on/);
      }
    } finally {
      await held.close();
    }
  });

  it('--listen N is the backlog of the socket the master binds (unix and TCP)', async () => {
    const sock = join(tmp.path, 'backlog.sock');
    const port = await freePort();
    const [u, t] = await Promise.all([startWorker(APP, sock, ['--processes', '1', '--listen', '37']), startWorker(APP, `127.0.0.1:${port}`, ['--processes', '1', '--listen', '41'])]);
    try {
      // ss shows the name given at bind(): the temporary one the file was renamed from (docs/master.md).
      assert.equal(listenBacklog(['-x', 'src', join(tmp.path, '.backlog.sock.*~')]), 37);
      assert.equal(listenBacklog(['-t', 'sport', '=', `:${port}`]), 41);
    } finally {
      assert.equal(await u.stop('SIGTERM'), 0);
      assert.equal(await t.stop('SIGTERM'), 0);
    }
  });

  it('--listen above net.core.somaxconn: a warning that names the sysctl, and the default is within it', async () => {
    const max = Number(readFileSync('/proc/sys/net/core/somaxconn', 'latin1'));
    const over = await startWorker(APP, join(tmp.path, 'over.sock'), ['--processes', '1', '--listen', String(max + 1)]);
    const within = await startWorker(APP, join(tmp.path, 'within.sock'), ['--processes', '1']);
    try {
      assert.match(over.output(), new RegExp(`--listen ${max + 1} is above net\\.core\\.somaxconn \\(${max}\\).*sysctl -w net\\.core\\.somaxconn=${max + 1}`));
      assert.doesNotMatch(within.output(), /somaxconn/);
    } finally {
      await over.stop();
      await within.stop();
    }
  });
});

/** Where the TCP listener on `port` is bound, as `ss` shows it (`0.0.0.0:PORT`, `127.0.0.1:PORT`). */
function boundAt(port: number): string[] {
  const out = execFileSync('ss', ['-ltnH', 'sport', '=', `:${port}`], { encoding: 'utf8' }).trim();
  return out.split('\n').map((l) => l.trim().split(/\s+/)[3]!);
}

describe('portico: a bare port is :PORT', () => {
  const tmp = makeTmpDir('bare-port');
  after(() => tmp.cleanup());
  const APP = join(fixturesDir, 'master-app.mjs');

  it('the check: PORT and :PORT are the same address for each option, --stats on loopback', () => {
    for (const [spec, rules, want] of [
      ['8000', { unix: true }, { kind: 'tcp', host: '0.0.0.0', port: 8000 }],
      [':8000', { unix: true }, { kind: 'tcp', host: '0.0.0.0', port: 8000 }],
      ['0', { unix: true }, { kind: 'tcp', host: '0.0.0.0', port: 0 }],
      ['9191', { unix: true, barePortHost: '127.0.0.1' }, { kind: 'tcp', host: '127.0.0.1', port: 9191 }],
      [':9191', { unix: true, barePortHost: '127.0.0.1' }, { kind: 'tcp', host: '127.0.0.1', port: 9191 }],
      ['0.0.0.0:9191', { unix: true, barePortHost: '127.0.0.1' }, { kind: 'tcp', host: '0.0.0.0', port: 9191 }],
      ['unix:8000', { unix: true }, { kind: 'unix', path: '8000' }],
      ['./8000', { unix: true }, { kind: 'unix', path: './8000' }],
    ] as const) {
      assert.deepEqual(listenAddressOption('http', spec, rules), want, spec);
    }
    assert.throws(() => listenAddressOption('http', '65536', { unix: true }), /--http 65536: the port must be a number from 0 to 65535/);
  });

  it('--socket PORT and --http PORT bind every interface, --stats PORT 127.0.0.1 only; requests pass through both', async () => {
    const [socketPort, statsPort, httpPort] = [await freePort(), await freePort(), await freePort()];
    const worker = await startWorker(APP, String(socketPort), ['--processes', '1', '--stats', String(statsPort)]);
    let gateway: Started | undefined;
    try {
      assert.match(worker.output(), new RegExp(`accepting on 0\\.0\\.0\\.0:${socketPort}`));
      assert.deepEqual(boundAt(socketPort), [`0.0.0.0:${socketPort}`]);
      assert.match(worker.output(), new RegExp(`stats server on 127\\.0\\.0\\.1:${statsPort}`));
      assert.deepEqual(boundAt(statsPort), [`127.0.0.1:${statsPort}`]);
      // The master hands its workers the address: they serve on it, not on a file named after the port.
      const direct = await uwsgiRequest({ socket: `127.0.0.1:${socketPort}`, path: '/' });
      assert.equal(direct.status, 200);
      gateway = startProcess(process.execPath, [porticoBin, 'gateway', '--http', String(httpPort), '--upstream', `uwsgi://127.0.0.1:${socketPort}`]);
      await gateway.waitFor(/portico gateway \d+: http on /);
      assert.deepEqual(boundAt(httpPort), [`0.0.0.0:${httpPort}`]);
      const res = await fetch(`http://127.0.0.1:${httpPort}/`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /^v1 \d+$/);
      assert.deepEqual(readdirSync(tmp.path), [], 'no socket file named after a port');
    } finally {
      await gateway?.stop();
      await worker.stop();
    }
  });

  it('a unix socket named by digits is unix:N or ./N, with and without the master', async () => {
    const withMaster = await startWorker(APP, 'unix:1234', ['--processes', '1', '--chdir', tmp.path]);
    const alone = await startWorker(APP, './5678', ['--chdir', tmp.path]);
    try {
      for (const name of ['1234', '5678']) {
        const res = await uwsgiRequest({ socket: join(tmp.path, name), path: '/' });
        assert.equal(res.status, 200, name);
      }
    } finally {
      await withMaster.stop();
      await alone.stop();
    }
  });
});

describe('portico: every option is checked at start, before anything is bound', () => {
  const tmp = makeTmpDir('checks');
  after(() => tmp.cleanup());
  const APP = join(fixturesDir, 'master-app.mjs');
  const sock = join(tmp.path, 'never.sock');
  const missing = join(tmp.path, 'missing');
  const long = join(tmp.path, `${'s'.repeat(110)}.sock`);
  const ini = (name: string, text: string): string => {
    const file = join(tmp.path, name);
    writeFileSync(file, text);
    return file;
  };
  const worker = (...extra: string[]): string[] => ['worker', APP, '--socket', sock, ...extra];
  const gateway = (...extra: string[]): string[] => ['gateway', '--upstream', `uwsgi://unix:${sock}`, ...extra];
  const cases: Array<[string[], RegExp, string?]> = [
    [worker('--gid', 'nosuchgroup'), /--gid nosuchgroup: no such group/],
    [worker('--gid', 'nosuchgroup', '--no-master'), /--gid nosuchgroup: no such group/],
    [worker('--uid', 'nosuchuser', '--no-master'), /--uid nosuchuser: no such user/],
    [worker('--logto', join(missing, 'app.log'), '--no-master'), /--logto .*: directory .*missing does not exist/],
    [worker('--pidfile', join(missing, 'app.pid')), /--pidfile .*: directory .*missing does not exist/],
    [worker('--pidfile2', join(missing, 'app.pid')), /--pidfile2 .*: directory .*missing does not exist/],
    [worker('--chdir', missing), /--chdir .*missing: no such directory/],
    [worker('--metrics', 'x:y'), /--metrics x:y: /],
    [worker('--stats', '127.0.0.1:99999'), /--stats 127\.0\.0\.1:99999: the port must be a number from 0 to 65535/],
    [worker('--processes'), /--processes <value>' argument missing/],
    [worker('--processes', '100000'), /--processes must be 1 to 1024, got 100000/],
    [worker('--chmod-socket', '7777'), /--chmod-socket must be an octal mode up to 777/],
    [['worker', APP, '--socket', long], /--socket .*: 1\d\d bytes, longer than the 107/],
    [['worker', APP, '--socket', long, '--no-master'], /--socket .*: 1\d\d bytes, longer than the 107/],
    [worker('--stats', long), /--stats .*: 1\d\d bytes, longer than the 107/],
    [gateway('--http', `unix:${long}`), /--http .*: 1\d\d bytes, longer than the 107/],
    [['gateway', '--http', '127.0.0.1:0', '--upstream', 'garbage'], /--upstream garbage: give uwsgi:\/\/unix:PATH/],
    [['gateway', '--http', '127.0.0.1:0', '--upstream', 'uwsgi://garbage'], /--upstream uwsgi:\/\/garbage: "garbage" is neither/],
    [
      ['gateway', '--http', '127.0.0.1:0', '--upstream', 'portico://3031'],
      /--upstream portico:\/\/3031: "3031" is neither unix:PATH nor HOST:PORT \(a port on this machine: portico:\/\/127\.0\.0\.1:3031\)/,
    ],
    [gateway('--http', '127.0.0.1:99999'), /--http 127\.0\.0\.1:99999: the port must be a number/],
    [gateway('--http', '99999'), /--http 99999: the port must be a number from 0 to 65535/],
    [['serve', APP, '--http', '123456'], /--http 123456: the port must be a number from 0 to 65535/],
    [worker('--stats', '70000'), /--stats 70000: the port must be a number from 0 to 65535/],
    [gateway('--http', '127.0.0.1:0', '--static', '/=/'), /--static \/=\/: the prefix \/ would take every request/],
    [['--ini', ini('chdir.ini', `[uwsgi]\nchdir = ${missing}\nsocket = ${sock}\nmodule = ${APP}\n`)], /--chdir .*missing: no such directory/],
    [['--ini', ini('module.ini', `[uwsgi]\nsocket = ${sock}\nmodule = ${join(missing, 'app.mjs')}\n`)], /missing\/app\.mjs: no such file/, 'PORTICO_ERR_APP_LOAD'],
    [['--ini', ini('serve.ini', `[uwsgi]\nhttp = 127.0.0.1:0\nmodule = ${join(missing, 'app.mjs')}\n`)], /missing\/app\.mjs: no such file/, 'PORTICO_ERR_APP_LOAD'],
  ];

  it('a bad value is one coded line and exit 1; no socket, pidfile or directory is left', async () => {
    // Two at a time: each is a node start, and the machine is shared.
    for (let i = 0; i < cases.length; i += 2) {
      await Promise.all(
        cases.slice(i, i + 2).map(async ([args, detail, code = 'PORTICO_ERR_INVALID_OPTION']) => {
          const r = await failingStart(args);
          assert.equal(r.code, 1, args.join(' '));
          assert.match(oneErrorLine(r.stderr, code), detail, args.join(' '));
        }),
      );
    }
    assert.deepEqual(
      readdirSync(tmp.path).filter((f) => !f.endsWith('.ini')),
      [],
    );
  });
});

describe('portico: a port another process holds', () => {
  const tmp = makeTmpDir('held');
  after(() => tmp.cleanup());
  const APP = join(fixturesDir, 'master-app.mjs');

  it('--http (gateway and serve) and --stats: one line and exit 1; no socket or runtime directory left', async () => {
    const held = await holdPort();
    const at = `127.0.0.1:${held.port}`;
    const sock = join(tmp.path, 'app.sock');
    try {
      const starts = await Promise.all([
        failingStart(['gateway', '--http', at, '--upstream', `uwsgi://unix:${sock}`]),
        failingStart(['serve', APP, '--http', at, '--workers', '1']),
        failingStart(['worker', APP, '--socket', sock, '--processes', '1', '--stats', at]),
      ]);
      for (const r of starts) {
        assert.equal(r.code, 1, r.stderr);
        assert.match(oneErrorLine(r.stderr, 'PORTICO_ERR_SOCKET_IN_USE'), new RegExp(`127\\.0\\.0\\.1:${held.port} is in use`));
      }
      assert.deepEqual(readdirSync(tmp.path), [], 'the worker master removed its socket');
      assert.deepEqual(
        readdirSync(tmpdir()).filter((d) => d.startsWith(`portico-run-${starts[1]!.pid}-`)),
        [],
        "serve's runtime directory is gone",
      );
    } finally {
      await held.close();
    }
  });
});
