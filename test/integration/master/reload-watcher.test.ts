// --reload (master/reload-watcher.ts, worker/reload/module-graph.ts): a change to any file of the
// app's own module graph chain-reloads the workers, ES modules and require()d CommonJS alike; a
// broken edit keeps the old code serving and prints the error; the next good save is served.
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { uwsgiRequest } from '../../../protocol/uwsgi/uwsgi-client.js';
import { startProcess } from '../../../support/child-process.js';
import { porticoBin } from '../../../support/paths.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

const times = (re: string, n: number): RegExp => new RegExp(`(?:${re}[\\s\\S]*){${n}}`);

describe('--reload', { timeout: 60_000 }, () => {
  const tmp = makeTmpDir('reload');
  after(() => tmp.cleanup());

  it('an edit to an imported ES module or a required CommonJS file reloads; a broken one keeps the old code serving', async () => {
    const dir = tmp.path;
    writeFileSync(
      join(dir, 'app.mjs'),
      [
        "import { createRequire } from 'node:module';",
        "import { greeting } from './lib.mjs';",
        "const { suffix } = createRequire(import.meta.url)('./util.cjs');",
        'export default { fetch() { return new Response(greeting() + suffix); } };',
      ].join('\n'),
    );
    writeFileSync(join(dir, 'lib.mjs'), "export function greeting() { return 'v1'; }\n");
    writeFileSync(join(dir, 'util.cjs'), "exports.suffix = '-a';\n");
    const sock = join(dir, 'app.sock');
    const master = startProcess(process.execPath, [porticoBin, 'worker', join(dir, 'app.mjs'), '--socket', sock, '--processes', '1', '--reload']);
    const body = async (): Promise<string> => (await uwsgiRequest({ socket: sock, path: '/' })).body.toString();
    try {
      await master.waitFor(/accepting on/);
      assert.equal(await body(), 'v1-a');

      writeFileSync(join(dir, 'lib.mjs'), "export function greeting() { return 'v2'; }\n");
      await master.waitFor(times('chain reload done', 1));
      assert.match(master.output(), /--reload: .*lib\.mjs changed: chain reload/);
      assert.equal(await body(), 'v2-a');

      writeFileSync(join(dir, 'util.cjs'), "exports.suffix = '-b';\n");
      await master.waitFor(times('chain reload done', 2));
      assert.equal(await body(), 'v2-b');

      writeFileSync(join(dir, 'lib.mjs'), "export function greeting() { return 'v3' \n");
      await master.waitFor(/PORTICO_ERR_RELOAD_FAILED/);
      assert.match(master.output(), /PORTICO_ERR_APP_LOAD: .*SyntaxError/);
      assert.equal(await body(), 'v2-b');

      writeFileSync(join(dir, 'lib.mjs'), "export function greeting() { return 'v4'; }\n");
      await master.waitFor(times('chain reload done', 4));
      assert.equal(await body(), 'v4-b');
    } finally {
      assert.equal(await master.stop(), 0);
    }
  });
});
