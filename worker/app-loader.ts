import { execFile } from 'node:child_process';
import { Server } from 'node:http';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PorticoError } from '../common/errors.js';
import { resumeOptimizer } from '../common/optimizer-pause.js';
import { fetchHandler, type FetchFunction } from './adapters/fetch-app.js';
import { installLightResponse } from './adapters/fetch-response.js';
import type { NodeListener } from './adapters/node-app.js';
import type { WsgiApplication } from './adapters/wsgi-app.js';
import { checkAppFile, loadError, type AppKind } from './app-file.js';
import type { RequestHandler } from './worker-context.js';

export { checkAppFile, KIND_RULES, parseAppSpec, type AppKind } from './app-file.js';

export interface LoadedApp {
  kind: AppKind;
  file: string;
  exportName: string;
  handler: RequestHandler;
  /** The app's shutdown hook (closeHook), awaited when its worker stops; null when it has none. */
  close: (() => unknown) | null;
}

/**
 * Imports the app module and turns its export into a request handler. Any failure is a
 * PORTICO_ERR_APP_LOAD naming the file and the rule it failed, so the CLI can exit non-zero with it.
 */
export async function loadApp(spec: string, options: { kind?: AppKind; lightResponse?: boolean } = {}): Promise<LoadedApp> {
  const { file, exportName, path } = checkAppFile(spec);
  // Before the import, so the app's `new Response(...)` is the light one from its first request.
  if (options.lightResponse !== false && (options.kind === undefined || options.kind === 'fetch')) installLightResponse();
  // The app's own start (its imports, what it builds at load) is optimized as usual.
  resumeOptimizer();
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    if ((err as Error)?.name === 'SyntaxError') {
      throw new PorticoError('PORTICO_ERR_APP_LOAD', `${file}: import failed: ${await syntaxErrorAt(path, err as Error)}`, { cause: err });
    }
    throw new PorticoError('PORTICO_ERR_APP_LOAD', `${file}: import failed: ${(err as Error)?.stack ?? String(err)}`, { cause: err });
  }
  const picked = pickExport(mod, exportName, file);
  const name = picked.name;
  const value = await frameworkListener(picked.value, file);
  const kind = options.kind ?? detectKind(name, value, file);
  return { kind, file: path, exportName: name, handler: await makeHandler(kind, value, file, name), close: closeHook(mod, picked.value) };
}

function pickExport(mod: Record<string, unknown>, exportName: string | undefined, file: string): { name: string; value: unknown } {
  const cjs = mod.default !== null && typeof mod.default === 'object' ? (mod.default as Record<string, unknown>) : undefined;
  if (exportName) {
    const value = mod[exportName] ?? cjs?.[exportName];
    if (value === undefined) throw loadError(file, `it has no export named "${exportName}"`);
    return { name: exportName, value };
  }
  const application = mod.application ?? cjs?.application;
  if (application !== undefined) return { name: 'application', value: application };
  if (mod.default !== undefined) return { name: 'default', value: mod.default };
  throw loadError(file, 'it has neither a default export nor an export named "application"');
}

/**
 * What runs when the app's worker stops (SIGTERM, --max-requests, --reload-on-rss, a chain reload),
 * after its last request, to close database pools and the like: an exported `close()` or
 * `shutdown()` (ES module, or CommonJS `module.exports`); else the app object's own (a fastify
 * instance's close() runs its onClose hooks; `export default { fetch, close }`); else, for an
 * http.Server, its 'close' listeners, as server.close() would run them.
 */
function closeHook(mod: Record<string, unknown>, app: unknown): (() => unknown) | null {
  const cjs = mod.default !== null && typeof mod.default === 'object' ? (mod.default as Record<string, unknown>) : undefined;
  for (const source of [mod, cjs, app]) {
    if (source === null || (typeof source !== 'object' && typeof source !== 'function')) continue;
    const s = source as { close?: unknown; shutdown?: unknown };
    if (source instanceof Server) return () => source.emit('close');
    for (const fn of [s.close, s.shutdown]) if (typeof fn === 'function') return () => (fn as () => unknown).call(source);
  }
  return null;
}

/**
 * What a framework's own export runs as, exported the way its docs show: a fastify instance is its
 * http.Server once ready() has loaded its plugins and routes; a Koa app is its callback().
 */
async function frameworkListener(value: unknown, file: string): Promise<unknown> {
  if (value === null || typeof value !== 'object') return value;
  const app = value as { server?: unknown; ready?: unknown; callback?: unknown; use?: unknown; listen?: unknown };
  if (app.server instanceof Server && typeof app.ready === 'function') {
    try {
      await (app.ready as () => Promise<unknown>).call(app);
    } catch (err) {
      throw loadError(file, `the fastify instance failed to get ready: ${(err as Error)?.message ?? String(err)}`);
    }
    return app.server;
  }
  if (typeof app.callback === 'function' && typeof app.use === 'function' && typeof app.listen === 'function') {
    return (app.callback as () => unknown).call(app);
  }
  return value;
}

function detectKind(name: string, value: unknown, file: string): AppKind {
  if (name === 'application' && typeof value === 'function') return 'wsgi';
  if (value instanceof Server) return 'node';
  if (value !== null && typeof value === 'object' && typeof (value as { fetch?: unknown }).fetch === 'function') return 'fetch';
  if (typeof value === 'function') {
    if (value.length === 1) return 'fetch';
    if (value.length === 2 || value.length === 3) return 'node';
    throw loadError(file, `export "${name}" is a function of ${value.length} parameters, which matches no kind`);
  }
  throw loadError(file, `export "${name}" is ${value === null ? 'null' : typeof value}, which matches no kind`);
}

/** The wsgi and node adapters are imported only for an app of their kind. */
async function makeHandler(kind: AppKind, value: unknown, file: string, name: string): Promise<RequestHandler> {
  if (kind === 'fetch') {
    if (typeof value === 'function') return fetchHandler(value as FetchFunction);
    const obj = value as { fetch?: unknown };
    if (obj && typeof obj.fetch === 'function') return fetchHandler((obj.fetch as FetchFunction).bind(obj));
  } else if (kind === 'wsgi') {
    if (typeof value === 'function') return (await import('./adapters/wsgi-app.js')).wsgiHandler(value as WsgiApplication);
  } else if (value instanceof Server || typeof value === 'function') {
    return (await import('./adapters/node-app.js')).nodeHandler(value as NodeListener | Server);
  }
  throw loadError(file, `export "${name}" cannot run as a ${kind} app`);
}

/**
 * A SyntaxError as one line with where it is: `FILE:LINE:COLUMN: SyntaxError: ...`. CommonJS puts
 * `FILE:LINE`, the source line and a caret on top of its stack; an ES module's import() error has
 * no location at all, so on that path only `node --check FILE` is asked, which prints the same
 * three lines. Its stack is the loader's, never the app's: it is left out.
 */
async function syntaxErrorAt(path: string, err: Error): Promise<string> {
  const what = `${err.name}: ${err.message}`;
  const where = locate(err.stack ?? '') ?? locate(await checkSyntax(path));
  return where ? `${where}: ${what}` : `${what} (in a module ${path} imports)`;
}

function locate(text: string): string | null {
  const lines = text.split('\n');
  for (let i = 0; i + 2 < lines.length; i++) {
    const m = /^(.+):(\d+)$/.exec(lines[i]!);
    const caret = lines[i + 2]!.indexOf('^');
    if (m && caret !== -1 && /^\s*\^+\s*$/.test(lines[i + 2]!)) {
      const file = m[1]!.startsWith('file://') ? fileURLToPath(m[1]!) : m[1]!;
      return `${file}:${m[2]}:${caret + 1}`;
    }
  }
  return null;
}

function checkSyntax(path: string): Promise<string> {
  return new Promise((resolvePromise) => {
    execFile(process.execPath, ['--check', path], { timeout: 10_000 }, (_err, _stdout, stderr) => resolvePromise(String(stderr)));
  });
}
