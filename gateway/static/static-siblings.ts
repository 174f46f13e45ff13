import { realpath } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { mountedFile } from './static-mounts.js';

/** The precompressed siblings @fastify/static picks by Accept-Encoding, with their extensions. */
const SIBLINGS: ReadonlyArray<readonly [encoding: string, ext: string]> = [
  ['br', '.br'],
  ['gzip', '.gz'],
];

/**
 * A precompressed sibling (`file.gz`, `file.br`) that is a symlink out of the static root must not
 * make the file itself a 404 for clients that accept its encoding: @fastify/static would pick the
 * sibling, the real-path check refuses it, and nothing falls back. So before @fastify/static reads
 * Accept-Encoding, the encodings whose sibling leads out of the root are taken out of it, and the
 * plain file is served (or the next sibling). Runs only for a static request that accepts one.
 */
export function installSiblingCheck(app: FastifyInstance, mounts: ReadonlyArray<{ prefix: string; under: string }>): void {
  app.addHook('onRequest', async (request) => {
    const accept = request.headers['accept-encoding'];
    if (typeof accept !== 'string' || !/\b(br|gzip)\b/.test(accept)) return;
    const url = request.raw.url ?? '/';
    const mount = mounts.find((m) => url.startsWith(m.prefix));
    if (!mount) return;
    // Only the spellings @fastify/static would serve; it refuses the rest itself.
    const file = mountedFile(url, mount.prefix, mount.under);
    if (file === null) return;
    let drop: string[] | null = null;
    for (const [encoding, ext] of SIBLINGS) {
      if (!new RegExp(`\\b${encoding}\\b`).test(accept)) continue;
      const real = await realpath(file + ext).catch(() => null);
      if (real !== null && !real.startsWith(mount.under)) (drop ??= []).push(encoding);
    }
    if (drop === null) return;
    request.headers['accept-encoding'] = accept
      .split(',')
      .filter((part) => !drop.includes(part.split(';')[0]!.trim().toLowerCase()))
      .join(',');
  });
}
