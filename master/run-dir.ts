import { lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PorticoError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { UNIX_PATH_MAX } from '../worker/socket-listener.js';
import { isRunning } from './pidfile.js';

/** `portico-run-PID-XXXXXX`: the master's pid in the name tells a later start whether it is gone. */
const PREFIX = 'portico-run-';
const STALE = /^portico-run-(\d+)-[A-Za-z0-9]{6}$/;
/** The longest worker socket name the master makes in it (worker ID-SEQ.sock, see Master.spawn). */
const LONGEST_SOCKET = 'worker-1024-99999999.sock';

/**
 * `portico serve`'s private directory for its workers' sockets. A master killed with -9 never
 * removes its own, so directories of ours whose master is dead are removed first: only this
 * user's, only with a dead pid (a live one, or a pid reused since, keeps its directory).
 */
export function makeRunDir(log: Logger, base: string = tmpdir()): string {
  const uid = process.getuid?.();
  for (const name of safeReaddir(base)) {
    const pid = STALE.exec(name)?.[1];
    if (pid === undefined || isRunning(Number(pid))) continue;
    const dir = join(base, name);
    try {
      const st = lstatSync(dir);
      if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
      rmSync(dir, { recursive: true, force: true });
      log.info(`removed ${dir}: runtime directory of a master (pid ${pid}) that is gone`);
    } catch {
      // removed meanwhile by another start: nothing to do
    }
  }
  const dir = mkdtempSync(join(base, `${PREFIX}${process.pid}-`));
  if (Buffer.byteLength(join(dir, LONGEST_SOCKET)) > UNIX_PATH_MAX) {
    rmSync(dir, { recursive: true, force: true });
    throw new PorticoError(
      'PORTICO_ERR_INVALID_OPTION',
      `the workers' sockets under ${base} would be longer than the ${UNIX_PATH_MAX} bytes a unix socket path can have: set TMPDIR to a shorter directory`,
    );
  }
  return dir;
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
