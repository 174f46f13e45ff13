import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { PorticoError } from '../../common/errors.js';

export interface StaticMount {
  /** URL prefix, always with a trailing slash: `/static/`. */
  prefix: string;
  root: string;
}

/** `--static /prefix=DIR`, uWSGI's static-map. */
export function parseStaticMount(spec: string): StaticMount {
  const eq = spec.indexOf('=');
  if (eq <= 0 || !spec.startsWith('/')) {
    throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--static wants /prefix=DIR, got ${JSON.stringify(spec)}`);
  }
  const prefix = spec.slice(0, eq).replace(/\/*$/, '/');
  // A mount on / would answer every request itself: the app would get none.
  if (prefix === '/') throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--static ${spec}: the prefix / would take every request from the app: mount under a prefix such as /static`);
  const root = resolve(spec.slice(eq + 1));
  if (root === '/') throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--static ${spec}: DIR / would publish the whole file system: give the directory of the files to serve`);
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--static ${prefix}: ${root} is not a directory`);
  }
  return { prefix, root };
}

/**
 * The file `url` names under a mount whose real root is `under` (with its trailing separator):
 * index.html for a directory, the query ignored as @fastify/static ignores it. null for what
 * @fastify/static never serves: a bad escape, a NUL, a dot segment (`..`, a dotfile).
 */
export function mountedFile(url: string, prefix: string, under: string): string | null {
  const q = url.indexOf('?');
  let rel: string;
  try {
    rel = decodeURIComponent((q === -1 ? url : url.slice(0, q)).slice(prefix.length));
  } catch {
    return null;
  }
  if (rel.includes('\0') || rel.split('/').some((s) => s.startsWith('.'))) return null;
  return under + (rel === '' || rel.endsWith('/') ? `${rel}index.html` : rel);
}
