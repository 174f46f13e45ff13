import { realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
import type { FastifyInstance } from 'fastify';

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
export function installSiblingCheck(app: FastifyInstance, mounts: ReadonlyArray<{ prefix: string; root: string; realRoot: string }>): void {
  app.addHook('onRequest', async (request) => {
    const accept = request.headers['accept-encoding'];
    if (typeof accept !== 'string' || !/\b(br|gzip)\b/.test(accept)) return;
    const url = request.raw.url ?? '/';
    const mount = mounts.find((m) => url.startsWith(m.prefix));
    if (!mount) return;
    const q = url.indexOf('?');
    let rel: string;
    try {
      rel = decodeURIComponent((q === -1 ? url : url.slice(0, q)).slice(mount.prefix.length));
    } catch {
      return;
    }
    // Only the spellings @fastify/static would serve; it refuses the rest itself.
    if (rel.includes('\0') || rel.split('/').some((s) => s === '..')) return;
    if (rel === '' || rel.endsWith('/')) rel += 'index.html';
    const file = join(mount.root, rel);
    const under = mount.realRoot.endsWith(sep) ? mount.realRoot : mount.realRoot + sep;
    let drop: string[] | null = null;
    for (const [encoding, ext] of SIBLINGS) {
      if (!new RegExp(`\\b${encoding}\\b`).test(accept)) continue;
      const real = await realpath(file + ext).catch(() => null);
      if (real !== null && !real.startsWith(under)) (drop ??= []).push(encoding);
    }
    if (drop === null) return;
    request.headers['accept-encoding'] = accept
      .split(',')
      .filter((part) => !drop.includes(part.split(';')[0]!.trim().toLowerCase()))
      .join(',');
  });
}
