// Peers the tests run against (nginx, uWSGI, Python, systemd-analyze, docker-compose, a Docker
// engine, root for network namespaces and privilege drops) may be absent on a developer's
// machine: the tests that need one are then skipped, with a one-line reason. CI installs and
// starts them all, runs as root and sets PORTICO_REQUIRE_PEERS=1 (.ci/run), which turns every
// such skip into a failing test, so a broken install never passes as a green run with tests
// missing.
import assert from 'node:assert/strict';
import { accessSync, constants } from 'node:fs';
import { test } from 'node:test';
import { NGINX } from '../../support/nginx.js';
import { IP } from './netns.js';

export const REQUIRE_PEERS = process.env.PORTICO_REQUIRE_PEERS === '1';

/**
 * The `skip` option for tests that need a peer: false when `missing` is false (the peer is here),
 * else the reason. Under PORTICO_REQUIRE_PEERS=1 an absent peer also registers a test that fails
 * with that reason. Call it at the top level of a test file; several peers: `needPeer(a() || b())`.
 */
export function needPeer(missing: string | false): string | false {
  if (missing === false) return false;
  if (REQUIRE_PEERS) {
    test(`a required peer is missing (PORTICO_REQUIRE_PEERS=1): ${missing}`, () => {
      assert.fail(missing);
    });
  }
  return missing;
}

function usable(path: string, mode = constants.X_OK): boolean {
  try {
    accessSync(path, mode);
    return true;
  } catch {
    return false;
  }
}

const debian = (what: string, pkg: string): string => `${what} is not installed (Debian package ${pkg}; .ci/run installs it)`;

/** Real nginx at Debian's path, with the uwsgi_params it ships. */
export function nginxMissing(): string | false {
  if (!usable(NGINX) || !usable('/etc/nginx/uwsgi_params', constants.R_OK)) return debian(`nginx (${NGINX}, /etc/nginx/uwsgi_params)`, 'nginx');
  return false;
}

/**
 * Real uWSGI, with its python3 plugin unless only the HTTP router is needed (its http and logfile
 * plugins come with uwsgi-core).
 */
export function uwsgiMissing(plugin: 'python3' | 'http' = 'python3'): string | false {
  if (!usable('/usr/bin/uwsgi')) return debian('uWSGI (/usr/bin/uwsgi)', 'uwsgi-core');
  if (plugin === 'python3' && !usable('/usr/lib/uwsgi/plugins/python3_plugin.so', constants.R_OK)) return debian("uWSGI's python3 plugin", 'uwsgi-plugin-python3');
  return false;
}

/** /usr/bin/python3, and `module` importable from Debian's dist-packages when given. */
export function pythonMissing(module?: { name: string; pkg: string }): string | false {
  if (!usable('/usr/bin/python3')) return debian('Python (/usr/bin/python3)', 'python3');
  if (module && !usable(`/usr/lib/python3/dist-packages/${module.name}`, constants.R_OK)) return debian(`the Python module ${module.name}`, module.pkg);
  return false;
}

/** iproute2's ip, for network namespaces (which also need root: rootMissing). */
export function ipMissing(): string | false {
  return usable(IP) ? false : debian(`ip (${IP})`, 'iproute2');
}

/** Root, for what only root may do (`why`): network namespaces, dropping privileges. */
export function rootMissing(why: string): string | false {
  return process.getuid?.() === 0 ? false : `needs root: ${why}`;
}
