// deploy/systemd/: the units pass `systemd-analyze verify` without a single warning, and socket
// activation works the way systemd does it: the listening socket already exists (connections
// queue in its backlog before portico runs), arrives as fd 3 with LISTEN_FDS=1 and LISTEN_PID set
// to portico's own pid, and is never removed by portico.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { uwsgiRequest } from '../../../protocol/uwsgi/uwsgi-client.js';
import { listenFds } from '../../../master/shared-socket.js';
import { outputLine, startProcess, type Started } from '../../../support/child-process.js';
import { deployDir, findExecutable } from '../../support/deploy-files.js';
import { freePort } from '../../../support/free-port.js';
import { porticoBin, repoRoot } from '../../../support/paths.js';
import { needPeer } from '../../support/peers.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

const unitsDir = join(deployDir, 'systemd');
const analyze = findExecutable('systemd-analyze');
const noAnalyze = needPeer(analyze ? false : 'systemd-analyze is not installed (Debian package systemd; .ci/run installs it)');

describe('deploy/systemd: systemd-analyze verify', () => {
  const tmp = makeTmpDir('deploy-systemd');
  after(() => tmp.cleanup());

  test('portico.service and portico.socket verify cleanly', { skip: noAnalyze }, () => {
    // verify insists that ExecStart's binary exists: point it at this node, change nothing else.
    const dir = join(tmp.path, 'units');
    mkdirSync(dir);
    for (const unit of ['portico.service', 'portico.socket']) {
      const text = readFileSync(join(unitsDir, unit), 'utf8').replaceAll('/usr/bin/node ', `${process.execPath} `);
      writeFileSync(join(dir, unit), text);
    }
    const r = spawnSync(analyze!, ['verify', '--man=no', join(dir, 'portico.socket'), join(dir, 'portico.service')], { encoding: 'utf8' });
    // verify exits 0 on unknown keys and bad values too: any output at all is a finding.
    assert.equal(`${r.stdout}${r.stderr}`, '');
    assert.equal(r.status, 0);
  });

  test('the service reloads with SIGHUP, stops with SIGTERM to the master, and owns /run/portico', () => {
    const unit = readFileSync(join(unitsDir, 'portico.service'), 'utf8');
    const line = (key: string): string | undefined => new RegExp(`^${key}=(.*)$`, 'm').exec(unit)?.[1];
    assert.equal(line('ExecReload'), '/bin/kill -HUP $MAINPID');
    assert.equal(line('KillSignal') ?? 'SIGTERM', 'SIGTERM');
    assert.equal(line('KillMode'), 'mixed');
    assert.equal(line('RuntimeDirectory'), 'portico');
    assert.match(line('User') ?? '', /\S/);
    assert.match(line('Restart') ?? '', /^(on-failure|on-abnormal|always)$/);
    // The socket the service binds itself is the one portico.socket would pass it.
    const socketUnit = readFileSync(join(unitsDir, 'portico.socket'), 'utf8');
    const path = /^ListenStream=(.*)$/m.exec(socketUnit)?.[1];
    assert.equal(path, '/run/portico/portico.sock');
    assert.match(line('ExecStart') ?? '', new RegExp(` --socket ${path} `));
  });
});

describe('LISTEN_FDS / LISTEN_PID as sd_listen_fds() reads them', () => {
  test('counted only when LISTEN_PID names this process', () => {
    assert.equal(listenFds({ LISTEN_FDS: '1', LISTEN_PID: '42' }, 42), 1);
    assert.equal(listenFds({ LISTEN_FDS: '1', LISTEN_PID: '41' }, 42), 0);
    assert.equal(listenFds({ LISTEN_FDS: '1' }, 42), 0);
    assert.equal(listenFds({}, 42), 0);
    assert.throws(() => listenFds({ LISTEN_FDS: 'x', LISTEN_PID: '42' }, 42), /LISTEN_FDS/);
  });
});

/**
 * Binds and listens on `path` (or a loopback TCP port) in this process and starts `portico worker
 * ...args` with that socket as fd 3, the way systemd starts a socket-activated service. LISTEN_PID
 * must be the pid of the process that ends up running portico, unknown before spawn: like
 * systemd-socket-activate, a shell sets it to its own pid ($$) and execs node, keeping the pid.
 */
async function activate(dir: string, path: string | { port: number }, args: string[]): Promise<Started> {
  const server = createServer();
  // Nothing connects before the child has the socket, so this process never accepts on it.
  try {
    // Node's server unlinks the path it bound when it closes; systemd's copy stays open instead.
    // Binding a scratch name and renaming it leaves the test's close only the scratch name to unlink.
    const scratch = join(dir, 'scratch.sock');
    server.listen(typeof path === 'string' ? { path: scratch, backlog: 64 } : { host: '127.0.0.1', port: path.port, backlog: 64 });
    await once(server, 'listening');
    if (typeof path === 'string') renameSync(scratch, path);
    return spawnActivated((server as unknown as { _handle: { fd: number } })._handle.fd, args);
  } finally {
    server.close();
  }
}

function spawnActivated(fd: number, args: string[]): Started {
  const command = args[0] === 'serve' ? [] : ['worker'];
  return startProcess('/bin/sh', ['-c', 'LISTEN_PID=$$ exec "$0" "$@"', process.execPath, porticoBin, ...command, ...args], {
    stdio: ['ignore', 'pipe', 'pipe', fd],
    env: { ...process.env, LISTEN_FDS: '1', LISTEN_FDNAMES: 'portico.socket' },
  });
}

describe('socket activation: portico takes the listening socket from LISTEN_FDS', { timeout: 60_000 }, () => {
  const tmp = makeTmpDir('deploy-activation');
  let portico: Started | undefined;
  after(async () => {
    await portico?.stop('SIGKILL');
    tmp.cleanup();
  });

  test('the master and its workers serve the inherited socket; reload and stop leave it in place', async () => {
    const path = join(tmp.path, 'portico.sock');
    // --socket names the path (as ExecStart= does); the socket itself comes from fd 3.
    portico = await activate(tmp.path, path, [join(repoRoot, 'examples', 'hello.mjs'), '--socket', path, '--processes', '2']);
    // Sent before portico is ready: it waits in the backlog, as with a .socket unit.
    const early = uwsgiRequest({ socket: path, path: '/early', timeoutMs: 30_000 });
    const res = await early;
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'Hello World');
    await outputLine(portico, new RegExp(`2 worker\\(s\\) of \\S+ accepting on ${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
    assert.match(portico.output(), /socket activation: using \S+portico\.sock from fd 3\n/);

    // systemctl reload: SIGHUP, a chain reload on the same inherited socket.
    portico.child.kill('SIGHUP');
    await outputLine(portico, /chain reload done: 2 worker\(s\) serving/, 30_000);
    const served = await Promise.all([1, 2, 3, 4].map((i) => uwsgiRequest({ socket: path, path: `/after-reload/${i}` })));
    assert.deepEqual(
      served.map((r) => r.status),
      [200, 200, 200, 200],
    );

    // systemctl stop: SIGTERM to the master; it exits 0 and leaves systemd's socket file alone.
    const code = await portico.stop('SIGTERM');
    assert.equal(code, 0, portico.output());
    assert.ok(existsSync(path) && lstatSync(path).isSocket(), 'portico removed the socket systemd owns');
    assert.doesNotMatch(portico.output(), /PORTICO_ERR_/);
  });

  test('--no-master also serves an inherited socket, and needs no --socket', async () => {
    const path = join(tmp.path, 'single.sock');
    const single = await activate(tmp.path, path, [join(repoRoot, 'examples', 'hello.mjs'), '--no-master']);
    try {
      const res = await uwsgiRequest({ socket: path, path: '/', timeoutMs: 30_000 });
      assert.equal(res.body.toString(), 'Hello World');
    } finally {
      assert.equal(await single.stop('SIGTERM'), 0, single.output());
    }
    assert.ok(existsSync(path), 'portico removed the socket systemd owns');
  });

  test('a TCP socket (ListenStream=127.0.0.1:PORT) is recognised as TCP from the descriptor', async () => {
    const port = await freePort();
    const tcp = await activate(tmp.path, { port }, [join(repoRoot, 'examples', 'hello.mjs'), '--processes', '1']);
    try {
      const res = await uwsgiRequest({ socket: `127.0.0.1:${port}`, path: '/', timeoutMs: 30_000 });
      assert.equal(res.body.toString(), 'Hello World');
      // TCP, so the workers apply --allow-from (loopback by default) to it.
      await outputLine(tcp, new RegExp(`socket activation: using 127\\.0\\.0\\.1:${port} from fd 3`));
    } finally {
      assert.equal(await tcp.stop('SIGTERM'), 0, tcp.output());
    }
  });

  test('portico serve takes its HTTP listener from fd 3 (ListenStream=PORT on the gateway)', async () => {
    const port = await freePort();
    const serve = await activate(tmp.path, { port }, ['serve', join(repoRoot, 'examples', 'hello.mjs'), '--workers', '1']);
    try {
      await outputLine(serve, /portico master \d+: 1 worker\(s\) of .* behind http:\/\/127\.0\.0\.1:(\d+)/);
      assert.match(serve.output(), new RegExp(`behind http://127\\.0\\.0\\.1:${port}`));
      const res = await fetch(`http://127.0.0.1:${port}/`);
      assert.equal(await res.text(), 'Hello World');
    } finally {
      assert.equal(await serve.stop('SIGTERM'), 0, serve.output());
    }
  });
});
