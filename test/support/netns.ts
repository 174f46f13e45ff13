import { execFile, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { startProcess, type Started } from '../../support/child-process.js';

/**
 * Network namespaces as stand-in machines for multi-host tests (root only): each "host" is a
 * namespace with its own loopback and one address on a private LAN. Nothing is configured in the
 * test runner's own namespace, so a run cannot clash with the machine's addresses or with a
 * parallel run, and deleting the namespaces removes every interface with them.
 */

export const IP = '/usr/sbin/ip';
const execFileP = promisify(execFile);

/** Runs `ip ARGS...`; rejects with ip's stderr. */
export async function ip(...args: string[]): Promise<string> {
  const { stdout } = await execFileP(IP, args, { timeout: 10_000 });
  return stdout;
}

/**
 * Every namespace name starts with this and the creating process's pid: a later run deletes the
 * leftovers of a run that died without cleaning up (its pid is gone), and never a live run's.
 */
const PREFIX = 'portico-t';

export interface NetHost {
  /** Short role name given to makeLan (also the veth name suffix on the hub). */
  name: string;
  /** The namespace's name, for `ip netns exec` / `ip -n`. */
  ns: string;
  /** This host's LAN address. */
  addr: string;
  /** `ip netns exec NS cmd args...`: ip execs cmd, so the pid is cmd's own. */
  launcher: string[];
  /**
   * Starts a long-running program inside the namespace in a process group of its own, so that
   * kill(-pid) reaches it and every process it forks (a master and its workers), as a host
   * losing power would.
   */
  spawn(cmd: string, args: string[], options?: SpawnOptions): Started;
}

export interface Lan {
  /** In makeLan's order; the first is the hub (the LAN's bridge lives in it). */
  hosts: NetHost[];
  host(name: string): NetHost;
  /** SIGKILLs the whole process group of `proc` (started by spawn()), if it still runs. */
  killGroup(proc: Started): void;
  /** Kills what spawn() started that still runs and deletes the namespaces; safe to call twice. */
  remove(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Deletes the namespaces of earlier runs whose test process no longer exists (killed before its
 * after() hook), and first SIGKILLs what still runs inside them: only those runs' own servers
 * can be in a namespace named so, and they would otherwise run on forever, holding it.
 */
async function sweepStale(): Promise<void> {
  const names = (await ip('netns', 'list')).split('\n').map((l) => l.split(' ')[0] ?? '');
  for (const name of names) {
    const m = name.match(new RegExp(`^${PREFIX}-(\\d+)-`));
    if (!m || alive(Number(m[1]))) continue;
    const pids = (await ip('netns', 'pids', name).catch(() => '')).split('\n').filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
    await ip('netns', 'del', name).catch(() => undefined);
  }
}

/**
 * Builds one LAN `subnet.0/24` of namespaces: a bridge `br0` in the first (the hub, address
 * subnet.1), and for every other host a veth pair, `eth0` in that host (subnet.2, .3, ...) and
 * `v-NAME` on the hub's bridge. The pairs are created straight inside the namespaces (ip -n ...
 * peer ... netns), so no interface name ever exists in the runner's namespace.
 */
export async function makeLan(names: string[], subnet = '10.77.0'): Promise<Lan> {
  await sweepStale();
  const run = `${PREFIX}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const started: Started[] = [];
  const hosts: NetHost[] = names.map((name, i) => {
    const ns = `${run}-${name}`;
    const launcher = [IP, 'netns', 'exec', ns];
    return {
      name,
      ns,
      addr: `${subnet}.${i + 1}`,
      launcher,
      spawn(cmd, args, options = {}) {
        const proc = startProcess(IP, ['netns', 'exec', ns, cmd, ...args], { detached: true, ...options });
        started.push(proc);
        return proc;
      },
    };
  });
  let removed = false;
  const lan: Lan = {
    hosts,
    host(name) {
      const h = hosts.find((x) => x.name === name);
      if (!h) throw new Error(`no host ${name}`);
      return h;
    },
    killGroup(proc) {
      const pid = proc.child.pid;
      if (pid === undefined || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
      try {
        process.kill(-pid, 'SIGKILL');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    },
    async remove() {
      if (removed) return;
      removed = true;
      for (const p of started) lan.killGroup(p);
      // A namespace outlives its name while a process still holds it: wait for the kills.
      await Promise.all(started.map((p) => p.stop('SIGKILL')));
      for (const h of hosts) await ip('netns', 'del', h.ns).catch(() => undefined);
    },
  };
  try {
    const [hub, ...rest] = hosts;
    for (const h of hosts) {
      await ip('netns', 'add', h.ns);
      await ip('-n', h.ns, 'link', 'set', 'lo', 'up');
    }
    // No STP on a bridge without loops: ports forward as soon as they are up.
    await ip('-n', hub!.ns, 'link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0');
    await ip('-n', hub!.ns, 'addr', 'add', `${hub!.addr}/24`, 'dev', 'br0');
    await ip('-n', hub!.ns, 'link', 'set', 'br0', 'up');
    for (const h of rest) {
      const port = `v-${h.name}`.slice(0, 15);
      await ip('-n', h.ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', port, 'netns', hub!.ns);
      await ip('-n', hub!.ns, 'link', 'set', port, 'master', 'br0');
      await ip('-n', hub!.ns, 'link', 'set', port, 'up');
      await ip('-n', h.ns, 'addr', 'add', `${h.addr}/24`, 'dev', 'eth0');
      await ip('-n', h.ns, 'link', 'set', 'eth0', 'up');
    }
  } catch (err) {
    await lan.remove();
    throw err;
  }
  return lan;
}
