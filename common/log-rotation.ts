import { existsSync, renameSync, statSync } from 'node:fs';

/**
 * --log-maxsize, as uWSGI's: each second the size of every log file is looked at; one past its
 * limit is renamed FILE.UNIXTIME and every process reopens its files, as SIGUSR1 does after
 * logrotate. Lines written between the rename and a reopen land in the renamed file: none is lost.
 * Each file has its own limit (uWSGI's keyval `file:logfile=PATH,maxsize=BYTES`, else --log-maxsize).
 */
export function rotateBySize(files: ReadonlyArray<{ file: string; maxBytes: number }>, reopen: (message: string) => void): NodeJS.Timeout {
  const timer = setInterval(() => {
    for (const { file, maxBytes } of files) {
      let size: number;
      try {
        size = statSync(file).size;
      } catch {
        continue;
      }
      if (size <= maxBytes) continue;
      const rotated = `${file}.${Math.floor(Date.now() / 1000)}`;
      try {
        // Never over an earlier rotation of the same second (uWSGI's keyval form loses those lines).
        renameSync(file, existsSync(rotated) ? `${rotated}.${process.hrtime.bigint()}` : rotated);
      } catch {
        continue;
      }
      reopen(`--log-maxsize: ${file} passed ${maxBytes} bytes: rotated to ${rotated}`);
    }
  }, 1000);
  timer.unref();
  return timer;
}
