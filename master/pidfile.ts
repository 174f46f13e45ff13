import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { PorticoError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';

/**
 * The pid a pidfile names when that process is alive, else null (no file, no pid, a dead one: a
 * stale file from a crash, which the next start replaces, as uWSGI does). A pid that is alive but
 * not ours to signal (EPERM) is alive too.
 */
function livePidIn(path: string): number | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : null;
  }
}

/** Refuses a pidfile another live master wrote: taking it over would make its stop delete the file. */
export function checkPidfileFree(flag: string, path: string): void {
  const pid = livePidIn(path);
  if (pid !== null) {
    throw new PorticoError('PORTICO_ERR_PIDFILE_IN_USE', `--${flag} ${path} holds pid ${pid}, which is running: stop that instance first, or give this one another pidfile`);
  }
}

/**
 * Written beside its final name and renamed over it: a reader never sees a half-written pid, and a
 * symlink planted at the path is replaced, never followed (so it cannot make us overwrite the file
 * it points to).
 */
export function writePidfile(path: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${process.pid}\n`, { mode: 0o644, flag: 'wx' });
  renameSync(tmp, path);
}

/**
 * Removes a pidfile at exit if it still names this process (another instance may have replaced a
 * file it found stale). After --uid dropped privileges, a pidfile written before the drop may sit
 * in a directory this user cannot change: that is said once, and the next start replaces it.
 */
export function removePidfile(path: string, log: Logger): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return;
  }
  if (Number(text.trim()) !== process.pid) return;
  try {
    rmSync(path, { force: true });
  } catch (err) {
    log.warn(`pidfile ${path} left in place (${(err as NodeJS.ErrnoException).code}: written before privileges were dropped); the next start replaces it`);
  }
}
