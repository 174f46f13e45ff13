// docs/errors.md is the list an operator greps a PORTICO_ERR_ code in: it must have a row for every
// code common/errors.ts defines, and name no code that does not exist (a renamed or removed one).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ErrorCodes } from '../common/errors.js';
import { repoRoot } from './support/paths.js';

const CODE = /PORTICO_ERR_[A-Z0-9]+(?:_[A-Z0-9]+)*/g;
const errorsDoc = readFileSync(join(repoRoot, 'docs', 'errors.md'), 'utf8');
const defined = new Set(Object.keys(ErrorCodes));

/** The table rows of docs/errors.md that document a code: `| \`CODE\` | status | ...`. */
const rows = [...errorsDoc.matchAll(/^\|\s*`(PORTICO_ERR_[A-Z0-9_]+)`\s*\|\s*([^|]*)\|/gm)].map((m) => ({
  code: m[1]!,
  status: m[2]!.trim(),
}));

describe('docs/errors.md and common/errors.ts agree', () => {
  test('every code in common/errors.ts has a row in docs/errors.md', () => {
    const documented = new Set(rows.map((r) => r.code));
    const missing = [...defined].filter((c) => !documented.has(c));
    assert.deepEqual(missing, [], `undocumented in docs/errors.md (add a row to its tables): ${missing.join(', ')}`);
  });

  test('no code has two rows', () => {
    const seen = new Set<string>();
    const twice = rows.filter((r) => seen.has(r.code) || !seen.add(r.code)).map((r) => r.code);
    assert.deepEqual(twice, []);
  });

  test('a row\'s status, when it gives one, is the code\'s status', () => {
    // "—" (no HTTP answer: the CLI exits) and "499 (log only)" are allowed; a number must match.
    const wrong = rows
      .filter((r) => defined.has(r.code) && /^\d{3}/.test(r.status))
      .filter((r) => Number(r.status.slice(0, 3)) !== ErrorCodes[r.code as keyof typeof ErrorCodes].status)
      .map((r) => `${r.code}: doc says ${r.status}, common/errors.ts ${ErrorCodes[r.code as keyof typeof ErrorCodes].status}`);
    assert.deepEqual(wrong, []);
  });

  test('no doc names a code that does not exist', () => {
    // All of docs/ and the README: a code renamed in common/errors.ts must be renamed there too.
    const files = [join(repoRoot, 'README.md'), ...readdirSync(join(repoRoot, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join(repoRoot, 'docs', f))];
    const unknown: string[] = [];
    for (const file of files) {
      for (const [code] of readFileSync(file, 'utf8').matchAll(CODE)) {
        if (!defined.has(code)) unknown.push(`${file.slice(repoRoot.length)}: ${code}`);
      }
    }
    assert.deepEqual([...new Set(unknown)], [], 'codes named in the docs but not defined in common/errors.ts');
  });
});
