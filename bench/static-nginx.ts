import { runNginx, type Nginx } from '../support/nginx.js';

/**
 * nginx serving `root`'s files under `prefix` (e.g. /static/), the static side of
 * `BENCH_SUITE=gateway npm run bench`: same layout as support/nginx.ts (foreground, own
 * prefix, worker_processes 1, workers as nobody when root) with a plain static server block and
 * the usual production switches (sendfile, tcp_nopush, open_file_cache).
 */
export function startStaticNginx(dir: string, prefix: string, root: string): Promise<Nginx> {
  return runNginx(
    dir,
    'nginx-static',
    (port) => `
  sendfile on;
  tcp_nopush on;
  open_file_cache max=64 inactive=60s;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    location ${prefix} { alias ${root.endsWith('/') ? root : `${root}/`}; }
  }`,
  );
}
