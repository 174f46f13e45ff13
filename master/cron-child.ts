/*
 * A --cron-app task's process: `node cron-child.js MODULE EXPORT`, started by the master's cron
 * runner. Imports MODULE, awaits EXPORT(), sends the outcome to the master over IPC and exits
 * (even if the module left timers or sockets open, as an app module often does).
 */
import { pathToFileURL } from 'node:url';
import { inspect } from 'node:util';
import type { CronChildReport } from './cron-runner.js';

function report(r: CronChildReport): void {
  if (!process.send) {
    process.stderr.write(`${r.ok ? (r.result ?? '') : (r.error ?? '')}\n`);
    process.exit(r.ok ? 0 : 1);
  }
  // Exit once the message is out: the exit code says nothing the report does not.
  process.send(r, () => process.exit(0));
}

const [modulePath, exportName = 'default'] = process.argv.slice(2);
try {
  if (!modulePath) throw new Error('usage: cron-child.js MODULE [EXPORT]');
  const mod = (await import(pathToFileURL(modulePath).href)) as Record<string, unknown>;
  let fn = mod[exportName];
  // A CommonJS module's named exports may only be reachable through its default export.
  if (fn === undefined && mod.default && typeof mod.default === 'object') fn = (mod.default as Record<string, unknown>)[exportName];
  if (typeof fn !== 'function') throw new Error(`${modulePath} has no exported function '${exportName}'`);
  const result: unknown = await (fn as () => unknown)();
  report({ ok: true, result: result === undefined ? '' : inspect(result, { depth: 2, breakLength: Infinity }) });
} catch (err) {
  report({ ok: false, error: err instanceof Error ? (err.stack ?? String(err)) : inspect(err) });
}
