import { createRequire, register } from 'node:module';
import { fileURLToPath } from 'node:url';
import { MessageChannel } from 'node:worker_threads';

/**
 * --reload: reports each file of the app's own module graph (not node_modules) as it is
 * imported, through the loader hooks of module-graph-hooks.ts, and, once the app is loaded, the
 * CommonJS files require() loaded (require is not seen by those hooks on Node 20). Call before
 * the app is imported; `report` may see a file more than once.
 */
export function trackModuleGraph(report: (file: string) => void): () => void {
  const { port1, port2 } = new MessageChannel();
  port1.on('message', (url: string) => report(fileURLToPath(url)));
  port1.unref();
  register(new URL('./module-graph-hooks.js', import.meta.url), { data: { port: port2 }, transferList: [port2] });
  return () => {
    for (const file of Object.keys(createRequire(import.meta.url).cache)) {
      if (!file.includes('/node_modules/') && file.startsWith('/')) report(file);
    }
  };
}
