// Every entry of package.json's "exports" resolves to a module that loads, as a user's
// `import ... from 'portico/...'` would (the package imports itself by its name), and `npm pack`
// ships exactly what a user needs.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { it } from 'node:test';
import { repoRoot } from '../../../support/paths.js';

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

/** The runtime sources: what tsconfig.json compiles into dist/ (tests and benchmarks are not). */
function runtimeSources(): string[] {
  const { include } = JSON.parse(readFileSync(join(repoRoot, 'tsconfig.json'), 'utf8')) as { include: string[] };
  const found = include.filter((entry) => entry.endsWith('.ts'));
  for (const dir of include.filter((entry) => !entry.endsWith('.ts'))) {
    for (const entry of readdirSync(join(repoRoot, dir), { recursive: true, encoding: 'utf8' })) {
      if (entry.endsWith('.ts') && !entry.endsWith('.d.ts')) found.push(`${dir}/${entry}`);
    }
  }
  return found;
}

it('npm pack ships the runtime with its types, bin, docs, examples, LICENSE and nothing else', () => {
  // --ignore-scripts: `prepare` would rebuild dist/ under the tests that are running from it.
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const [pack] = JSON.parse(out) as Array<{ files: Array<{ path: string }> }>;
  const files = new Set(pack!.files.map((f) => f.path));
  const compiled = new Set(runtimeSources().flatMap((src) => [src.replace(/\.ts$/, '.js'), src.replace(/\.ts$/, '.d.ts')].map((f) => `dist/${f}`)));
  const docs = readdirSync(join(repoRoot, 'docs')).map((f) => `docs/${f}`);
  const examples = readdirSync(join(repoRoot, 'examples'), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(repoRoot, join(e.parentPath, e.name)));
  const allowed = new Set(['package.json', 'README.md', 'LICENSE', 'bin/portico.mjs', ...compiled, ...docs, ...examples]);
  assert.deepEqual(
    [...files].filter((f) => !allowed.has(f)),
    [],
    'shipped, but not runtime, types, bin, docs, examples or LICENSE (a stale file in dist/? `npm run build` empties it first)',
  );
  assert.deepEqual(
    [...allowed].filter((f) => !files.has(f)),
    [],
    'missing from the package (not built, or not in package.json "files")',
  );
});
