import type { Master } from './master.js';

/**
 * Chain reload (SIGHUP, --touch-reload): one worker at a time, the new process imports the app
 * afresh and takes traffic before the old one is stopped, and the next one starts only after the
 * old one is gone. A reload asked for during one runs once more after it (so the last change is
 * always picked up); a new worker that fails to start stops the reload and the old ones serve on.
 */
export class ChainReload {
  private readonly master: Master;
  private current: Promise<void> | null = null;
  private again = false;

  constructor(master: Master) {
    this.master = master;
  }

  get running(): boolean {
    return this.current !== null;
  }

  request(): Promise<void> {
    if (this.current) {
      this.again = true;
      return this.current;
    }
    this.current = this.run().finally(() => {
      this.current = null;
    });
    return this.current;
  }

  private async run(): Promise<void> {
    const m = this.master;
    do {
      this.again = false;
      let failed = false;
      m.log.info(`chain reload: replacing ${m.workers.size} worker(s) one at a time`);
      for (const id of [...m.workers.keys()].sort((a, b) => a - b)) {
        const old = m.workers.get(id);
        if (!old || m.stopping) continue;
        old.reloading = true;
        if (!(await m.replace(old, 'reload'))) {
          old.reloading = false;
          m.log.error('PORTICO_ERR_RELOAD_FAILED', 'chain reload stopped: a new worker failed to start; the old workers keep serving');
          this.again = false;
          failed = true;
          break;
        }
      }
      if (!m.stopping && !failed) await m.options.afterChainReload?.();
    } while (this.again && !m.stopping);
    m.log.info(`chain reload done: ${m.workers.size} worker(s) serving`);
  }
}
