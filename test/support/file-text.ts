import { existsSync, readFileSync, watch } from 'node:fs';
import { dirname } from 'node:path';
import type { Started } from '../../support/child-process.js';

/** A file's text, '' while it does not exist. */
export function fileContent(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

/**
 * Resolves with the first match of `re` in `file` once it is there (fs.watch on its directory, so
 * a file that is created, appended to or renamed is seen at once); rejects if `proc` exits first
 * or after `ms`, with what the file and the process's output hold. For servers that log to files.
 */
export function fileText(file: string, re: RegExp, proc?: Started, ms = 15_000): Promise<RegExpMatchArray> {
  const now = fileContent(file).match(re);
  if (now) return Promise.resolve(now);
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, m?: RegExpMatchArray): void => {
      watcher.close();
      clearTimeout(timer);
      proc?.child.off('exit', onExit);
      if (err) reject(err);
      else resolve(m!);
    };
    const check = (): boolean => {
      const m = fileContent(file).match(re);
      if (m) done(null, m);
      return m !== null;
    };
    const fail = (why: string): Error => new Error(`${why}: no ${re} in ${file}; it holds:\n${fileContent(file)}\noutput:\n${proc?.output() ?? ''}`);
    const onExit = (): void => {
      if (!check()) done(fail('the process exited'));
    };
    const watcher = watch(dirname(file), () => void check());
    const timer = setTimeout(() => {
      if (!check()) done(fail(`${ms} ms passed`));
    }, ms);
    proc?.child.once('exit', onExit);
    check();
  });
}
