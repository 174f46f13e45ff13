import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { PorticoError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';

/** The whole number a pidfile holds, or null (no file, or something else in it). */
function pidIn(path: string): number | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) ? pid : null;
}

/** Whether process `pid` runs: one that is not ours to signal (EPERM) runs too. */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Refuses a pidfile another live master wrote: taking it over would make its stop delete the file.
 * One whose pid no longer runs is a stale file from a crash, which this start replaces, as uWSGI does.
 */
export function checkPidfileFree(flag: string, path: string): void {
  const pid = pidIn(path);
  if (pid !== null && pid > 0 && pid !== process.pid && isRunning(pid)) {
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
  if (pidIn(path) !== process.pid) return;
  try {
    rmSync(path, { force: true });
  } catch (err) {
    log.warn(`pidfile ${path} left in place (${(err as NodeJS.ErrnoException).code}: written before privileges were dropped); the next start replaces it`);
  }
}
