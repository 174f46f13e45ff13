import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startProcess } from '../test/support/child-process.js';
import { freePort } from '../test/support/free-port.js';
import { NGINX, type Nginx } from '../test/support/nginx.js';

/**
 * nginx serving `root`'s files under `prefix` (e.g. /static/), the static side of
 * `BENCH_SUITE=gateway npm run bench`: same layout as test/support/nginx.ts (foreground, own
 * prefix, worker_processes 1, workers as nobody when root) with a plain static server block and
 * the usual production switches (sendfile, tcp_nopush, open_file_cache).
 */
export async function startStaticNginx(dir: string, prefix: string, root: string): Promise<Nginx> {
  const port = await freePort();
  const home = join(dir, `nginx-static-${port}`);
  mkdirSync(join(home, 'logs'), { recursive: true, mode: 0o777 });
  const conf = `
worker_processes 1;
daemon off;
master_process on;
${process.getuid?.() === 0 ? 'user nobody nogroup;' : ''}
pid ${join(home, 'nginx.pid')};
error_log stderr notice;
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  open_file_cache max=64 inactive=60s;
  default_type application/octet-stream;
  client_body_temp_path ${join(home, 'client_body')};
  proxy_temp_path ${join(home, 'proxy')};
  fastcgi_temp_path ${join(home, 'fastcgi')};
  uwsgi_temp_path ${join(home, 'uwsgi')};
  scgi_temp_path ${join(home, 'scgi')};
  server {
    listen 127.0.0.1:${port};
    location ${prefix} { alias ${root.endsWith('/') ? root : `${root}/`}; }
  }
}
`;
  const confFile = join(home, 'nginx.conf');
  writeFileSync(confFile, conf);
  const proc = startProcess(NGINX, ['-p', home, '-c', confFile, '-e', 'stderr']);
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
