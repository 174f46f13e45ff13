import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A private directory for one test file's sockets and configs, removed by cleanup(). */
export function makeTmpDir(prefix: string): { path: string; cleanup(): void } {
  const path = mkdtempSync(join(tmpdir(), `portico-${prefix}-`));
  // nginx's workers run as nobody: they must reach the sockets and temp files in here.
  chmodSync(path, 0o777);
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}
