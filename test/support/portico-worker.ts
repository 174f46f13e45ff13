import { porticoBin } from './paths.js';
import { startProcess, type Started } from './child-process.js';

/** Options that make `portico worker` run a master; without them the tests start one plain process. */
const MASTER_FLAGS = /^--(master|processes|workers|harakiri|max-requests|reload-on-rss|stats|pidfile|touch-reload)$/;

/**
 * Starts `portico worker APP --socket SOCKET ...` and resolves once it is accepting. Unless `extra`
 * asks for the master, it runs as one process (--no-master): most tests are about one worker.
 */
export async function startWorker(app: string, socket: string, extra: string[] = []): Promise<Started> {
  const mode = extra.some((a) => MASTER_FLAGS.test(a)) ? [] : ['--no-master'];
  const p = startProcess(process.execPath, [porticoBin, 'worker', app, '--socket', socket, ...mode, ...extra]);
  await p.waitFor(/app .* on \S+/);
  return p;
}
