// Every entry of package.json's "exports" resolves to a module that loads, as a user's
// `import ... from 'portico/...'` would (the package imports itself by its name).
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { repoRoot } from './support/paths.js';

it('every "exports" entry of package.json loads', async () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { name: string; exports: Record<string, string> };
  const entries = Object.keys(pkg.exports);
  assert.ok(entries.length > 0);
  for (const key of entries) {
    const specifier = key === '.' ? pkg.name : `${pkg.name}/${key.slice(2)}`;
    const mod = (await import(specifier)) as Record<string, unknown>;
    assert.ok(Object.keys(mod).length > 0, `${specifier} exports nothing`);
  }
  // What the README shows.
  const { uwsgiRequest } = (await import(pkg.name)) as { uwsgiRequest?: unknown };
  assert.equal(typeof uwsgiRequest, 'function');
});
