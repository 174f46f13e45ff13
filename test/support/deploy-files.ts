// The deploy/ files are written for a real server or container (/run/portico, /etc/portico/nginx,
// port 80). The tests use them as shipped and only move those paths into a temp directory, the
// way support/nginx.ts includes the shipped locations files.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { NGINX, nginxMainConf } from '../../support/nginx.js';
import { repoRoot } from '../../support/paths.js';

export const deployDir = join(repoRoot, 'deploy');

/** Container or server path → path on this machine. */
export type PathMap = Array<[from: string, to: string]>;

/**
 * Replaces each `from` that is a whole path prefix (followed by `/`, `;`, a quote, whitespace or
 * the end) with its `to`; longer prefixes first, so /run/portico/x.sock wins over /run/portico.
 */
export function substitutePaths(text: string, map: PathMap): string {
  const sorted = [...map].sort((a, b) => b[0].length - a[0].length);
  const pattern = new RegExp(sorted.map(([from]) => from.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|') + String.raw`(?=[/;"'\s]|$)`, 'g');
  return text.replace(pattern, (m) => sorted.find(([from]) => from === m)![1]);
}

/** `listen 80;` (and `listen [::]:80;`) → one loopback port the test chose. */
export function localListen(conf: string, port: number): string {
  return conf.replace(/^\s*listen\s+\[::\]:80\b[^;]*;\s*$/gm, '').replace(/\blisten\s+80\b/g, `listen 127.0.0.1:${port}`);
}

/**
 * `nginx -t` on a main config around `http`, with stock uwsgi_params next to it (the configs say
 * `include uwsgi_params;` as Debian's do). Returns nginx's exit status and what it printed.
 */
export function nginxTest(home: string, http: string): { status: number | null; output: string } {
  mkdirSync(join(home, 'logs'), { recursive: true, mode: 0o777 });
  copyFileSync('/etc/nginx/uwsgi_params', join(home, 'uwsgi_params'));
  const conf = join(home, 'nginx.conf');
  writeFileSync(conf, nginxMainConf(home, http));
  const r = spawnSync(NGINX, ['-t', '-p', home, '-c', conf, '-e', 'stderr'], { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** An executable on PATH (or at an absolute path), or null. */
export function findExecutable(name: string): string | null {
  if (name.startsWith('/')) return existsSync(name) ? name : null;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  for (const dir of ['/usr/local/bin', '/usr/bin', '/usr/sbin', '/bin']) if (existsSync(join(dir, name))) return join(dir, name);
  return null;
}

export interface ComposeService {
  command?: string[];
  volumes?: Array<string | { type?: string; source?: string; target: string; read_only?: boolean }>;
  healthcheck?: { test: string[] };
  ports?: Array<string | { published: number | string; target: number; host_ip?: string }>;
  depends_on?: Record<string, { condition: string }> | string[];
  build?: { context: string; dockerfile?: string; args?: Record<string, string> };
  image?: string;
}
export interface ComposeConfig {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/**
 * `docker-compose config`: the file validated and normalized (relative paths made absolute) by
 * the Compose implementation itself. Debian's docker-compose 1.x prints YAML only, and depends on
 * python3-yaml, so its own interpreter turns that into JSON; Compose 2.x prints JSON itself.
 */
export function composeConfig(bin: string, file: string, env: NodeJS.ProcessEnv = process.env): { status: number | null; output: string; config?: ComposeConfig } {
  const head = readFileSync(bin).subarray(0, 128).toString('latin1');
  const python = head.startsWith('#!') ? head.slice(2).split('\n')[0]!.trim().split(/\s+/)[0]! : null;
  const r = spawnSync(bin, ['-f', file, 'config', ...(python ? [] : ['--format', 'json'])], { encoding: 'utf8', env });
  if (r.status !== 0) return { status: r.status, output: `${r.stdout}${r.stderr}` };
  let json = r.stdout;
  if (python) {
    const py = spawnSync(python, ['-c', 'import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'], { input: r.stdout, encoding: 'utf8' });
    if (py.status !== 0) throw new Error(`${python} could not read the YAML docker-compose printed: ${py.stderr}`);
    json = py.stdout;
  }
  return { status: r.status, output: `${r.stdout}${r.stderr}`, config: JSON.parse(json) as ComposeConfig };
}

/** A service's volumes as (host source, container target); named volumes map to `volumesDir/NAME`. */
export function volumeMounts(service: ComposeService, volumesDir: string): PathMap {
  return (service.volumes ?? []).map((v) => {
    if (typeof v === 'string') {
      const [source, target] = v.split(':') as [string, string];
      return [target, source.startsWith('/') ? source : join(volumesDir, source)];
    }
    return [v.target, v.type === 'volume' ? join(volumesDir, v.source!) : v.source!];
  });
}

/** A service's published ports as HOST_IP:PUBLISHED:TARGET, from Compose 1.x strings or 2.x objects. */
export function publishedPorts(service: ComposeService): string[] {
  return (service.ports ?? []).map((p) => (typeof p === 'string' ? p.replace(/\/tcp$/, '') : `${p.host_ip ?? ''}:${p.published}:${p.target}`));
}
