import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { PorticoError } from '../common/errors.js';

// What the CLI checks of APP before anything is bound or forked, without importing it (or the
// adapters: the master never loads them).

export type AppKind = 'fetch' | 'wsgi' | 'node';

export const KIND_RULES = `How portico tells the kind of an app (force one with --kind):
  - an export named "application" (or MODULE:application) is a WSGI app: application(environ, startResponse)
  - an http.Server instance is a node app, and so is a fastify instance (its server, once ready)
    and a Koa app (its callback())
  - an object with a fetch(request) method is a fetch app (export default { fetch })
  - a function of one parameter is a fetch app: (request) => Response
  - a function of two or three parameters is a node app: (req, res) or (req, res, next)`;

/** Splits `path/to/app.mjs:exportName`; a Windows drive letter is not an export name. */
export function parseAppSpec(spec: string): { file: string; exportName: string | undefined } {
  const colon = spec.lastIndexOf(':');
  if (colon > 1 && !spec.slice(colon + 1).includes('/')) {
    return { file: spec.slice(0, colon), exportName: spec.slice(colon + 1) };
  }
  return { file: spec, exportName: undefined };
}

/** What can be known of APP without importing it (the master checks it before binding anything). */
export function checkAppFile(spec: string): { file: string; exportName: string | undefined; path: string } {
  const { file, exportName } = parseAppSpec(spec);
  const path = resolve(file);
  if (!/\.(m|c)?js$/.test(path)) throw loadError(file, 'APP must be a .js, .mjs or .cjs file');
  if (!existsSync(path)) throw loadError(file, 'no such file');
  return { file, exportName, path };
}

export function loadError(file: string, rule: string): PorticoError {
  return new PorticoError('PORTICO_ERR_APP_LOAD', `${file}: ${rule}\n${KIND_RULES}`);
}
