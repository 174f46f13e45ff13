// docs/errors.md is the list an operator greps a PORTICO_ERR_ code in: it must have a row for every
// code common/errors.ts defines, and name no code that does not exist (a renamed or removed one).
// The same kind of drift for options: the flags docs/migrating.md and docs/getting-started.md tell
// people to use must exist in config/option-schema.ts.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ErrorCodes } from '../../../common/errors.js';
import * as optionSchema from '../../../config/option-schema.js';
import { repoRoot } from '../../../support/paths.js';

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

  test("a row's status, when it gives one, is the code's status", () => {
    // "—" (no HTTP answer: the CLI exits) and "499 (log only)" are allowed; a number must match.
    const wrong = rows
      .filter((r) => defined.has(r.code) && /^\d{3}/.test(r.status))
      .filter((r) => Number(r.status.slice(0, 3)) !== ErrorCodes[r.code as keyof typeof ErrorCodes].status)
      .map((r) => `${r.code}: doc says ${r.status}, common/errors.ts ${ErrorCodes[r.code as keyof typeof ErrorCodes].status}`);
    assert.deepEqual(wrong, []);
  });

  test('no doc names a code that does not exist', () => {
    // All of docs/ and the READMEs: a code renamed in common/errors.ts must be renamed there too.
    const files = [
      join(repoRoot, 'README.md'),
      join(repoRoot, 'bench', 'README.md'),
      ...readdirSync(join(repoRoot, 'docs'))
        .filter((f) => f.endsWith('.md'))
        .map((f) => join(repoRoot, 'docs', f)),
    ];
    const unknown: string[] = [];
    for (const file of files) {
      for (const [code] of readFileSync(file, 'utf8').matchAll(CODE)) {
        if (!defined.has(code)) unknown.push(`${file.slice(repoRoot.length)}: ${code}`);
      }
    }
    assert.deepEqual([...new Set(unknown)], [], 'codes named in the docs but not defined in common/errors.ts');
  });
});

/** Every option name and alias the server commands take (SCHEMA, or the older per-command tables). */
function knownOptions(): Set<string> {
  const mod = optionSchema as unknown as Record<string, Record<string, { aliases?: ReadonlyArray<string | { name: string }> }> | undefined>;
  const names = new Set<string>();
  for (const table of [mod.SCHEMA, mod.workerOptions, mod.serveOptions, mod.gatewayOptions]) {
    for (const [name, spec] of Object.entries(table ?? {})) {
      names.add(name);
      for (const a of spec.aliases ?? []) names.add(typeof a === 'string' ? a : a.name);
    }
  }
  return names;
}

/** `--name` flags in a piece of text; `--no-x` is boolean x turned off. */
function flagsIn(text: string): string[] {
  return [...text.matchAll(/(?<![\w-])--([a-z][a-z0-9-]*)/g)].map((m) => m[1]!.replace(/^no-/, ''));
}

describe('the docs name only options portico has', () => {
  const known = knownOptions();

  test('docs/migrating.md: the portico column of its tables', () => {
    const doc = readFileSync(join(repoRoot, 'docs', 'migrating.md'), 'utf8');
    const unknown: string[] = [];
    let porticoColumn = false;
    for (const line of doc.split('\n')) {
      if (!line.startsWith('|')) continue;
      const cells = line
        .split(/(?<!\\)\|/)
        .slice(1, -1)
        .map((c) => c.trim());
      if (cells[1] === 'portico') porticoColumn = true;
      if (!porticoColumn || cells.length < 3 || /^-+$/.test(cells[1]!) || cells[1] === 'portico') continue;
      // "the same names": the other server's names, in the first column, are portico's too.
      const names = /^the same names?\b/.test(cells[1]!) ? [...cells[0]!.matchAll(/`-{0,2}([a-z][a-z0-9_-]*)/g)].map((m) => m[1]!) : flagsIn(cells[1]!);
      for (const n of names) if (!known.has(n)) unknown.push(`${n} (row: ${cells[0]})`);
    }
    assert.deepEqual(unknown, []);
  });

  test('docs/getting-started.md: the flags of its portico commands', () => {
    const doc = readFileSync(join(repoRoot, 'docs', 'getting-started.md'), 'utf8');
    const commands = doc.split('\n').filter((l) => /\bportico (worker|serve|gateway)\b/.test(l));
    assert.ok(commands.length > 0);
    const unknown = commands.flatMap(flagsIn).filter((n) => !known.has(n));
    assert.deepEqual(unknown, []);
  });
});
