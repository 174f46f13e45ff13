import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FastifyInstance, FastifyPluginCallback, FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { PorticoError } from '../common/errors.js';

type Plugin = FastifyPluginCallback | FastifyPluginAsync;
/** What fastify-plugin sets on a plugin whose hooks apply outside it (fastify's documented `skip-override`). */
const SKIP_OVERRIDE = Symbol.for('skip-override');

const FIX =
  'the file must export a fastify plugin as its default export (`export default async function (app) { await app.register(...) }`), and the packages it imports must be installed where it can import them';

/**
 * --gateway-plugin FILE: each file's default export is a fastify plugin, registered in front of the
 * forwarding route with fastify-plugin's semantics (not encapsulated), so the hooks it adds and the
 * plugins it registers (@fastify/compress, @fastify/cors, @fastify/rate-limit, an auth hook...)
 * apply to every forwarded request. Any failure (a missing file, an import that throws, no
 * function exported, a registration that fails) is one PORTICO_ERR_GATEWAY_PLUGIN naming the file.
 */
export async function registerGatewayPlugins(app: FastifyInstance, files: readonly string[]): Promise<void> {
  for (const file of files) {
    const path = resolve(file);
    if (!existsSync(path)) throw new PorticoError('PORTICO_ERR_GATEWAY_PLUGIN', `${file}: no such file; ${FIX}`);
    let mod: { default?: unknown };
    try {
      mod = (await import(pathToFileURL(path).href)) as { default?: unknown };
    } catch (err) {
      throw new PorticoError('PORTICO_ERR_GATEWAY_PLUGIN', `${file}: import failed: ${causeOf(err)}; ${FIX}`, { cause: err });
    }
    if (typeof mod.default !== 'function')
      throw new PorticoError('PORTICO_ERR_GATEWAY_PLUGIN', `${file}: its default export is ${mod.default === undefined ? 'missing' : `a ${typeof mod.default}`}, not a function; ${FIX}`);
    const plugin = mod.default as Plugin & { [SKIP_OVERRIDE]?: boolean };
    try {
      // Awaited, so a failure is this file's. A plugin made with fastify-plugin already (a package's
      // own export) is registered as it is: wrapping it again would overwrite its name and checks.
      await app.register(plugin[SKIP_OVERRIDE] === true ? plugin : fp(plugin, { name: `portico-gateway-plugin:${path}` }));
    } catch (err) {
      throw new PorticoError('PORTICO_ERR_GATEWAY_PLUGIN', `${file}: registering it failed: ${causeOf(err)}; ${FIX}`, { cause: err });
    }
  }
}

/** The error's own line (its name and message): the stack is fastify's and the plugin loader's. */
function causeOf(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
