import { porticoBin } from './paths.js';
import { startProcess, type Started } from './child-process.js';

/** Options that make `portico worker` run a master; without them the tests start one plain process. */
const MASTER_FLAGS = /^--(master|processes|workers|harakiri|max-requests|reload-on-rss|stats|pidfile|touch-reload|cheap|cheaper)$/;

/**
 * Starts `portico worker APP --socket SOCKET ...` (`nodeArgs` go to node itself) and resolves once it is accepting. Unless `extra`
 * asks for the master, it runs as one process (--no-master): most tests are about one worker.
 */
export async function startWorker(app: string, socket: string, extra: string[] = [], nodeArgs: string[] = [], env?: NodeJS.ProcessEnv): Promise<Started> {
  const master = extra.some((a) => MASTER_FLAGS.test(a));
  const p = startProcess(process.execPath, [...nodeArgs, porticoBin, 'worker', app, '--socket', socket, ...(master ? [] : ['--no-master']), ...extra], env ? { env } : {});
  // The master's line comes once every worker it starts accepts (none yet under --cheap).
  await p.waitFor(master ? /portico master \d+: \d+ worker\(s\) of .* accepting on \S+/ : /app .* on \S+/);
  return p;
}
