import { statSync, watch, type FSWatcher } from 'node:fs';
import type { Logger } from '../common/logger.js';
import type { Master } from './master.js';

/** Edits that come together (an editor's save, a git checkout) make one reload. */
const SETTLE_MS = 100;

/**
 * --reload (development): watches every file of the app's own module graph, as the workers report
 * them, and chain-reloads the workers when one changes. A broken edit fails the new worker's
 * start, and the chain reload stops there (PORTICO_ERR_RELOAD_FAILED): the old code serves on,
 * the error is in the log, and the next save tries again.
 */
export class ReloadWatcher {
  private readonly master: Master;
  private readonly log: Logger;
  private readonly watchers = new Map<string, FSWatcher>();
  /** Each file's mtime when last seen: an editor's save fires several events, one change counts. */
  private readonly mtimes = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private changed = new Set<string>();

  constructor(master: Master, log: Logger) {
    this.master = master;
    this.log = log;
  }

  add(file: string): void {
    if (this.watchers.has(file)) return;
    let watcher: FSWatcher;
    try {
      watcher = watch(file, { persistent: false }, (event) => {
        // Saved by a rename (most editors): this watcher follows the old inode; the workers of the
        // reload report the file again and it is watched anew.
        if (event === 'rename') this.forget(file);
        this.changedFile(file);
      });
    } catch {
      return; // gone between its import and now: the next reload reports what exists
    }
    watcher.on('error', () => this.forget(file));
    this.watchers.set(file, watcher);
    if (!this.mtimes.has(file)) this.mtimes.set(file, mtimeOf(file));
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }

  private forget(file: string): void {
    this.watchers.get(file)?.close();
    this.watchers.delete(file);
  }

  private changedFile(file: string): void {
    const mtime = mtimeOf(file);
    if (mtime === this.mtimes.get(file)) return;
    this.mtimes.set(file, mtime);
    this.changed.add(file);
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const files = [...this.changed];
      this.changed.clear();
      this.log.info(`--reload: ${files.join(', ')} changed: chain reload`);
      void this.master.reload();
    }, SETTLE_MS);
    this.timer.unref();
  }
}

/** -1 for a file that is not there (removed, or between an editor's rename and write). */
function mtimeOf(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return -1;
  }
}
