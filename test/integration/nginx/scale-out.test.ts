import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { outputLine, type Started } from '../../../support/child-process.js';
import type { LoadSummary } from '../../support/load-client.js';
import { makeLan, type Lan, type NetHost } from '../../support/netns.js';
import { runNginx, type Nginx } from '../../../support/nginx.js';
import { porticoBin, repoRoot } from '../../../support/paths.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { ipMissing, needPeer, nginxMissing, rootMissing } from '../../support/peers.js';

/*
 * Past one machine (issue 5 §3, docs/scaling.md): "hosts" as network namespaces on one LAN,
 * nginx on one with deploy/nginx/portico-multi-host.conf, a `portico worker` master on TCP on each
 * of two others. Under a steady load one portico host loses power (its master and workers
 * SIGKILLed at once); the load goes on through the other. A fourth namespace stands in for the
 * Kubernetes pod of deploy/kubernetes/portico.yaml (its containers share one network namespace).
 */

const CONF = join(repoRoot, 'deploy', 'nginx', 'portico-multi-host.conf');
const POD = join(repoRoot, 'deploy', 'kubernetes', 'portico.yaml');
const LOAD_CLIENT = join(import.meta.dirname, '..', '..', 'support', 'load-client.js');
const PORT = 3031;
/** The load's requests in flight at most: the most the dead host can have had. */
const CONCURRENCY = 4;

// Says which host answered: the load client tallies a body's second word (under `pids`).
const APP_SOURCE = `export default {
  async fetch(request) {
    // A little work per request, so the load always has requests in flight on both hosts.
    const ms = Number(new URL(request.url).searchParams.get('ms') ?? 0);
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
    return new Response('host ' + process.env.SCALE_OUT_HOST);
  },
};
`;

const tmp = makeTmpDir('scale-out');
const app = join(tmp.path, 'host-app.mjs');
let lan: Lan | undefined;
let nginx: Nginx | undefined;
const hosts = new Map<string, Started>();

// Runs even when before() or a test failed half-way: nothing may outlive the file.
after(async () => {
  try {
    await lan?.remove();
    await nginx?.stop();
  } finally {
    tmp.cleanup();
  }
});

/** The shipped config with this LAN's addresses in place of the example ones, nothing else changed. */
function multiHostConf(port: number, home: string, upstreams: string[]): string {
  copyFileSync('/etc/nginx/uwsgi_params', join(home, 'uwsgi_params'));
  let i = 0;
  const conf = readFileSync(CONF, 'utf8')
    .replace(/^(\s*server )\d+\.\d+\.\d+\.\d+:\d+/gm, (_, lead: string) => `${lead}${upstreams[i++] ?? 'missing'}`)
    .replace(/^(\s*listen )80;/m, (_, lead: string) => `${lead}127.0.0.1:${port};`)
    .replace('/etc/portico/nginx/', `${join(repoRoot, 'deploy', 'nginx')}/`);
  assert.equal(i, upstreams.length, 'one server line per portico host in the shipped config');
  return conf;
}

/**
 * The pod's containers' `args` from deploy/kubernetes/portico.yaml, by container name, with the
 * image's paths mapped to this checkout and the emptyDir to `runDir`.
 */
function podCommands(runDir: string): Map<string, string[]> {
  const yaml = readFileSync(POD, 'utf8');
  const commands = new Map<string, string[]>();
  for (const m of yaml.matchAll(/- name: (\w+)\n(?:\s+#.*\n|\s+image: .*\n)*\s+args: (\[[^\]]*\])/g)) {
    const args = (JSON.parse(m[2]!) as string[]).map((a) =>
      a
        .replace(/^node$/, process.execPath)
        .replace('/opt/portico/bin/portico.mjs', porticoBin)
        .replace('/srv/app/app.mjs', app)
        .replace('/run/portico/', `${runDir}/`),
    );
    commands.set(m[1]!, args);
  }
  return commands;
}

/** `portico worker` under its master, on TCP, taking connections from nginx's address only. */
async function startPorticoHost(h: NetHost, nginxAddr: string): Promise<Started> {
  const args = [porticoBin, 'worker', app, '--socket', `0.0.0.0:${PORT}`, '--allow-from', nginxAddr, '--processes', '2', '--disable-logging'];
  const proc = h.spawn(process.execPath, args, { env: { ...process.env, SCALE_OUT_HOST: h.name } });
  await outputLine(proc, /2 worker\(s\) of .* accepting on/);
  return proc;
}

interface Load {
  proc: Started;
  progress(n: number): Promise<void>;
  /** Responses in at the last progress line. */
  done(): number;
  finish(): Promise<LoadSummary>;
}

/**
 * test/support/load-client.ts run inside `h`: nginx and the pod listen on their namespace's own
 * loopback, which nothing outside it can reach (the runner's namespace has no LAN address).
 */
function startLoad(h: NetHost, url: string, count: number, every: number): Load {
  const proc = h.spawn(process.execPath, [LOAD_CLIENT, url, String(count), String(CONCURRENCY), String(every)]);
  return {
    proc,
    progress: async (n) => {
      await outputLine(proc, new RegExp(`progress ${n}\\n`), 20_000);
    },
    done: () => Number(proc.output().match(/progress (\d+)\n(?![\s\S]*progress)/)?.[1] ?? 0),
    async finish() {
      const m = await outputLine(proc, /summary (.*)\n/, 30_000);
      return JSON.parse(m[1]!) as LoadSummary;
    },
  };
}

describe('scale-out: nginx over two portico hosts, and the Kubernetes pod, in network namespaces', {
  skip: needPeer(rootMissing('ip netns') || ipMissing() || nginxMissing()),
  timeout: 50_000,
}, () => {
  let url = '';
  before(async () => {
    writeFileSync(app, APP_SOURCE);
    lan = await makeLan(['ngx', 'a', 'b', 'pod']);
    const [ngx, a, b] = lan.hosts as [NetHost, NetHost, NetHost];
    for (const h of [a, b]) hosts.set(h.name, await startPorticoHost(h, ngx.addr));
    nginx = await runNginx(
      tmp.path,
      'nginx-multi',
      (port, home) =>
        multiHostConf(
          port,
          home,
          [a, b].map((h) => `${h.addr}:${PORT}`),
        ),
      ngx.launcher,
    );
    url = `http://127.0.0.1:${nginx.port}/?ms=5`;
  });

  it('a worker on TCP refuses a peer outside --allow-from', async () => {
    const a = lan!.host('a');
    const b = lan!.host('b');
    const request = promisify(execFile)(a.launcher[0]!, [...a.launcher.slice(1), process.execPath, porticoBin, 'request', '--socket', `${b.addr}:${PORT}`, '/'], { timeout: 10_000 });
    await assert.rejects(request);
    await outputLine(hosts.get('b')!, new RegExp(`PORTICO_ERR_FORBIDDEN_PEER[^\\n]*refused ${a.addr.replaceAll('.', '\\.')}:`));
  });

  it('one host killed under load: the load goes on through the other, only in-flight requests may fail', async (t) => {
    const ngx = lan!.host('ngx');
    const b = lan!.host('b');
    const warm = await startLoad(ngx, url, 200, 50).finish();
    assert.equal(warm.ok, 200, JSON.stringify(warm));
    assert.ok((warm.pids['a'] ?? 0) > 0 && (warm.pids['b'] ?? 0) > 0, `both hosts served before the kill: ${JSON.stringify(warm.pids)}`);

    const total = 2000;
    const load = startLoad(ngx, url, total, 100);
    await load.progress(400);
    // The host loses power: master and both workers die at once, nothing is closed gracefully.
    const victim = hosts.get('b')!;
    lan!.killGroup(victim);
    const killedAt = load.done();
    await victim.stop('SIGKILL');
    // nginx's passive check: the first failed attempt (max_fails=1) takes the host out.
    const dead = `uwsgi://${b.addr.replaceAll('.', '\\.')}:${PORT}`;
    await outputLine(nginx!.proc, new RegExp(`upstream server temporarily disabled[^\\n]*${dead}`));
    const summary = await load.finish();
    // nginx logs each request the dead host had in flight (cut while sending or awaiting the
    // response head), one error line per connection; attempts made after the kill fail connecting.
    const nginxSaw = nginx!.proc
      .output()
      .split('\n')
      .filter((l) => l.includes(`upstream: "uwsgi://${b.addr}:${PORT}"`));
    const cut = nginxSaw.filter((l) => l.includes('[error]') && !l.includes('while connecting to upstream')).length;
    const detail = `${JSON.stringify(summary)}\nnginx about the dead host:\n${nginxSaw.join('\n')}`;
    t.diagnostic(`killed after ${killedAt} responses; ${cut} request(s) in flight on it; ${JSON.stringify(summary)}`);
    assert.equal(summary.sent, total);
    assert.equal(summary.ok + summary.failed, total, detail);
    // At most CONCURRENCY requests were in flight at the kill, so at most that many were the dead
    // host's. nginx passes a GET cut before its response head to the other host (uwsgi_next_upstream
    // error), so usually none fails at all; one that does is nginx's 502, never a dropped connection.
    assert.ok(cut <= CONCURRENCY, detail);
    assert.ok(summary.failed <= cut, detail);
    assert.equal(summary.failed, summary.statuses['502'] ?? 0, detail);
    assert.deepEqual(summary.errors, {}, detail);
    assert.ok(total - killedAt >= 1000, `${total - killedAt} responses after the kill`);
    assert.ok((summary.pids['b'] ?? 0) > 0, `the victim served until the kill: ${detail}`);
    assert.ok((summary.pids['a'] ?? 0) > total - killedAt - CONCURRENCY, detail);

    // Every later request succeeds, all on the survivor.
    const later = await startLoad(ngx, url, 300, 100).finish();
    assert.equal(later.ok, 300, JSON.stringify(later));
    assert.deepEqual(Object.keys(later.pids), ['a'], JSON.stringify(later.pids));
  });

  it("the Kubernetes pod's gateway and workers, as deploy/kubernetes/portico.yaml runs them, in one network namespace", async () => {
    const pod = lan!.host('pod');
    const runDir = join(tmp.path, 'pod-run');
    mkdirSync(runDir);
    const commands = podCommands(runDir);
    assert.deepEqual([...commands.keys()].sort(), ['gateway', 'workers']);
    const env = { ...process.env, SCALE_OUT_HOST: pod.name };
    // Containers in a pod start in no particular order: the gateway comes up before the socket.
    const run = (name: string): Started => {
      const [cmd, ...args] = commands.get(name)!;
      return pod.spawn(cmd!, args, { env });
    };
    await outputLine(run('gateway'), /portico gateway \d+: http on/);
    await outputLine(run('workers'), /2 worker\(s\) of .* accepting on/);
    // The probes the manifest declares, and requests through the Service's port, from inside the pod.
    for (const probe of ['http://127.0.0.1:9464/healthz', 'http://127.0.0.1:9464/readyz']) {
      const r = await startLoad(pod, probe, 1, 1).finish();
      assert.equal(r.ok, 1, `${probe}: ${JSON.stringify(r)}`);
    }
    const r = await startLoad(pod, 'http://127.0.0.1:8080/', 100, 50).finish();
    assert.equal(r.ok, 100, JSON.stringify(r));
    assert.deepEqual(r.pids, { pod: 100 });
  });
});
