import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { repoRoot } from './paths.js';
import { startProcess, type Started } from './child-process.js';

export const NGINX = '/usr/sbin/nginx';

export interface Nginx {
  port: number;
  url: string;
  proc: Started;
  stop(): Promise<void>;
}

/**
 * Runs real nginx in the foreground on a loopback port with its own prefix, pid and temp paths,
 * serving deploy/nginx/portico-uwsgi-locations.conf (the shipped config, included, not copied)
 * with the upstream pointed at `upstreamSocket`. As root, its workers run as nobody, as they would
 * run as www-data in production: the socket must be connectable by others.
 */
export interface NginxSite {
  /** File in deploy/nginx/ with the locations to include. */
  locations: string;
  /** Name of the upstream block those locations use. */
  upstream: string;
  /** Extra lines inside the upstream block (e.g. keepalive). */
  upstreamConf?: string;
  /** A shipped file in deploy/nginx/ the site includes at http level. */
  httpInclude?: string;
}

const UWSGI_SITE: NginxSite = { locations: 'portico-uwsgi-locations.conf', upstream: 'portico_workers' };
export const GATEWAY_SITE: NginxSite = { locations: 'portico-gateway-locations.conf', upstream: 'portico_gateway', upstreamConf: 'keepalive 32;', httpInclude: 'portico-upgrade-map.conf' };

export async function startNginx(dir: string, upstreamSocket: string, extraServerConf = '', site: NginxSite = UWSGI_SITE): Promise<Nginx> {
  return runNginx(dir, 'nginx', (port, home) => {
    copyFileSync('/etc/nginx/uwsgi_params', join(home, 'uwsgi_params'));
    return `${site.httpInclude !== undefined ? `\n  include ${join(repoRoot, 'deploy', 'nginx', site.httpInclude)};` : ''}
  upstream ${site.upstream} { server ${upstreamSocket.startsWith('/') ? `unix:${upstreamSocket}` : upstreamSocket}; ${site.upstreamConf ?? ''} }
  server {
    listen 127.0.0.1:${port};
    ${extraServerConf}
    include ${join(repoRoot, 'deploy', 'nginx', site.locations)};
  }`;
  });
}

/**
 * Real nginx in the foreground with its own prefix (`dir/NAME-PORT`), pid, temp paths and
 * worker_processes 1; `http` returns the inside of the http { } block for the chosen port.
 */
export async function runNginx(dir: string, name: string, http: (port: number, home: string) => string, launcher: string[] = []): Promise<Nginx> {
  const port = await freePort();
  const home = join(dir, `${name}-${port}`);
  mkdirSync(join(home, 'logs'), { recursive: true, mode: 0o777 });
  const conf = nginxMainConf(home, http(port, home));
  const confFile = join(home, 'nginx.conf');
  writeFileSync(confFile, conf);
  // `launcher` runs nginx through another program that execs it (e.g. `ip netns exec NS`).
  const [cmd, ...pre] = [...launcher, NGINX];
  const proc = startProcess(cmd!, [...pre, '-p', home, '-c', confFile, '-e', 'stderr']);
  // The master binds the listener before it forks workers, so this line means "accepting".
  await proc.waitFor(/start worker process/);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    proc,
    async stop() {
      await proc.stop('SIGQUIT');
    },
  };
}

/**
 * The main nginx.conf around `http` (the inside of http { }): foreground, one worker (nobody when
 * run as root, as www-data would be), its own pid and temp paths under `home`.
 */
export function nginxMainConf(home: string, http: string): string {
  return `
worker_processes 1;
daemon off;
master_process on;
${process.getuid?.() === 0 ? 'user nobody nogroup;' : ''}
pid ${join(home, 'nginx.pid')};
error_log stderr notice;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${join(home, 'client_body')};
  proxy_temp_path ${join(home, 'proxy')};
  fastcgi_temp_path ${join(home, 'fastcgi')};
  uwsgi_temp_path ${join(home, 'uwsgi')};
  scgi_temp_path ${join(home, 'scgi')};
${http}
}
`;
}
