import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { defaults } from '../../../config/defaults.js';
import { Logger } from '../../../common/logger.js';
import { Master } from '../../../master/master.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

const tmp = makeTmpDir('master-unit');
after(() => tmp.cleanup());

/** The master's log lines, kept to be read back. */
class Lines extends Logger {
  readonly lines: string[] = [];
  override info(message: string): void {
    this.lines.push(message);
  }
}

describe('Master.scale', () => {
  it('SIGTTIN stops at the --processes bound: no worker past it is forked', () => {
    const log = new Lines();
    const master = new Master({
      main: '/nonexistent',
      workerArgv: [],
      processes: defaults.maxProcesses,
      shared: null,
      runDir: tmp.path,
      harakiriSeconds: 0,
      harakiriGraceSeconds: 0,
      maxRequests: 0,
      maxRequestsJitter: 0,
      reloadOnRssMb: 0,
      minWorkerLifetimeSeconds: 1,
      gracefulTimeoutSeconds: 1,
      log,
    });
    master.scale(1);
    assert.equal(master.processes, defaults.maxProcesses);
    assert.equal(master.workers.size, 0);
    assert.deepEqual(log.lines, ['SIGTTIN: already at 1024 workers, the most --processes allows']);
  });
});
