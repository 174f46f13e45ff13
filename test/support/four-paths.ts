// The four ways a request reaches a portico app (issue 13's compatibility suite): portico serve;
// nginx uwsgi_pass → portico worker; nginx proxy_pass → portico serve; uWSGI's HTTP router →
// portico worker. One app file, each path started once, every test of a file sent through them.
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { basename, join } from 'node:path';
import { startProcess } from '../../support/child-process.js';
import { freePort } from '../../support/free-port.js';
import { GATEWAY_SITE, startNginx } from '../../support/nginx.js';
import { startServe } from './portico-gateway.js';
import { startWorker } from '../../support/portico-worker.js';
import { nginxMissing, uwsgiMissing } from './peers.js';

export type PathName = 'nginx' | 'serve' | 'proxy' | 'router';

/** The peers the paths run on: nginx, and uWSGI's HTTP router. */
export const fourPathsMissing = (): string | false => nginxMissing() || uwsgiMissing('http');

/** Each path with the words a test name gives it. */
export const PATHS: ReadonlyArray<readonly [PathName, string]> = [
  ['nginx', 'nginx uwsgi_pass → portico worker'],
  ['serve', 'portico serve'],
  ['proxy', 'nginx proxy_pass → portico serve'],
  ['router', "uWSGI's HTTP router → portico worker"],
];

export type Bases = Record<PathName, string>;

/**
 * Starts `app` on the four paths, with sockets and nginx homes in `dir` (one made by makeTmpDir:
 * nginx's workers, as nobody, reach in), and pushes each stop onto `stop` (to run in reverse).
 * Resolves with each path's http://127.0.0.1:PORT.
 */
export async function startFourPaths(dir: string, app: string, stop: Array<() => Promise<unknown>>): Promise<Bases> {
  const sock = join(dir, `${basename(app).replace(/\.\w+$/, '')}.sock`);
  const worker = await startWorker(app, sock, ['--chmod-socket', '666']);
  stop.push(() => worker.stop());
  // nginx uwsgi_pass → portico worker, the shipped locations.
  const nginx = await startNginx(dir, sock);
  stop.push(() => nginx.stop());
  // portico serve, and nginx proxy_pass → that gateway.
  const serve = await startServe(app);
  stop.push(() => serve.stop());
  const proxy = await startNginx(dir, `127.0.0.1:${serve.port}`, '', GATEWAY_SITE);
  stop.push(() => proxy.stop());
  // uWSGI's HTTP router → the same portico worker.
  const port = await freePort();
  const router = startProcess('/usr/bin/uwsgi', ['--strict', '--die-on-term', '--master', '--plugin', 'http', '--http', `127.0.0.1:${port}`, '--http-to', sock]);
  stop.push(() => router.stop());
  await router.waitFor(/spawned uWSGI http 1 \(pid: \d+\)/);
  return { nginx: nginx.url, serve: serve.url, proxy: proxy.url, router: `http://127.0.0.1:${port}` };
}

export interface Reply {
  status: number;
  headers: IncomingMessage['headers'];
  /** The body exactly as it came off the wire (node:http decodes no Content-Encoding). */
  body: Buffer;
}

/** One request on its own connection; the whole body, as bytes. */
export function send(base: string, path: string, options: { method?: string; headers?: OutgoingHttpHeaders; body?: Buffer | string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}
