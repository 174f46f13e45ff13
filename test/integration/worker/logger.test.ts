// common/logger.ts: a log that can no longer be written never stops the server. stderr piped
// into a reader that went away (`portico serve ... | head`, a supervisor restarted) makes every
// write fail with EPIPE; sonic-boom 4 then looped for ever inside flushSync, and a master's
// SIGTERM handler (which logs "SIGTERM: graceful stop") never returned. Real processes, both
// masters: portico serve and portico worker --processes 1.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { startProcess } from '../../../support/child-process.js';
import { freePort } from '../../../support/free-port.js';
import { porticoBin, repoRoot } from '../../../support/paths.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

const HELLO = join(repoRoot, 'examples', 'hello.mjs');

describe('logging to a pipe whose reader went away', { timeout: 60_000 }, () => {
  const tmp = makeTmpDir('logger');
  const commands: Record<string, () => Promise<{ args: string[]; ready: RegExp }>> = {
    'portico serve': async () => ({ args: ['serve', HELLO, '--workers', '1', '--http', `127.0.0.1:${await freePort()}`], ready: /worker\(s\) of .* behind http/ }),
    'portico worker --processes 1': async () => ({ args: ['worker', HELLO, '--socket', join(tmp.path, 'w.sock'), '--processes', '1'], ready: /portico master \d+: 1 worker\(s\) of .* accepting/ }),
  };
  for (const [name, command] of Object.entries(commands)) {
    test(`${name}: SIGTERM still stops it (exit 0), the lines it cannot write dropped`, async () => {
      const { args, ready } = await command();
      const proc = startProcess(process.execPath, [porticoBin, ...args]);
      await proc.waitFor(ready);
      // The reader goes away: every later write to stdout and stderr fails with EPIPE.
      proc.child.stdout!.destroy();
      proc.child.stderr!.destroy();
      const exit = once(proc.child, 'exit');
      proc.child.kill('SIGTERM');
      const [code, signal] = await exit;
      assert.deepEqual([code, signal], [0, null]);
    });
  }
  test('cleanup', () => tmp.cleanup());
});
