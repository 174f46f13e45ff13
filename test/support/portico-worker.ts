import { porticoBin } from './paths.js';
import { startProcess, type Started } from './child-process.js';

/** Starts `portico worker APP --socket SOCKET ...` and resolves once it is accepting. */
export async function startWorker(app: string, socket: string, extra: string[] = []): Promise<Started> {
  const p = startProcess(process.execPath, [porticoBin, 'worker', app, '--socket', socket, ...extra]);
  await p.waitFor(/app .* on \S+/);
  return p;
}
