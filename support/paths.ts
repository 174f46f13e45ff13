import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** The repository root (this file runs as dist-test/support/paths.js, two levels below it). */
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const porticoBin = join(repoRoot, 'bin', 'portico.mjs');
export const fixturesDir = join(repoRoot, 'test', 'fixtures');
/** Packets and responses captured from real nginx and uWSGI (test/fixtures/vectors/README.md). */
export const vectorsDir = join(fixturesDir, 'vectors');
