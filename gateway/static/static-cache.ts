import { type Stats, statSync } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { sep } from 'node:path';
import type { ForwardedRequest, ForwardedResponse } from '../forwarding/forward-types.js';
import { mountedFile } from './static-mounts.js';

/**
 * In-memory answers for the --static mounts' plain 200 responses.
 *
 * Profiling @fastify/static on a 4 KiB file showed the time going to file-system round trips,
 * not to HTTP: per request it readdir()s every path segment (its case-alias check), stat()s,
 * open()s, read()s and close()s the file, and our onFile check realpath()s it, each a trip
 * through libuv's thread pool; fastify's routing and reply machinery came next. This cache
 * answers a repeated GET/HEAD with one write, and a statSync per event-loop turn to notice a changed file.
 *
 * It never decides what may be served: an entry is only made after @fastify/static itself
 * answered that exact URL with a whole, unencoded 200, and only for a file whose real path is
 * under the mount's real root and whose size and mtime match the ETag that response carried.
 * Everything else (ranges, conditional requests, precompressed siblings, errors, directories,
 * first requests) goes the slow way.
 */

/** Largest file kept in memory, and all entries together (the oldest are dropped past it). */
const MAX_FILE_BYTES = 1024 * 1024;
const MAX_TOTAL_BYTES = 64 * 1024 * 1024;

interface Entry {
  file: string;
  /** The mount's root (real path, trailing separator) the file must stay under. */
  under: string;
  /** A background check of the entry is running (see revalidate). */
  checking: boolean;
  /** The event-loop turn of its last stat (see tryServe). */
  checkedTurn: number;
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  expires: number;
  headers: OutgoingHttpHeaders;
  body: Buffer;
}

/** What fastify's reply.getHeaders() returns. */
type ReplyHeaders = Record<string, string | number | string[] | undefined>;

interface Mount {
  prefix: string;
  /** Real path of the root with a trailing separator. */
  under: string;
}

export class StaticCache {
  private readonly entries = new Map<string, Entry>();
  private readonly filling = new Set<string>();
  private readonly pending = new Set<Promise<void>>();
  /** Counts event-loop turns in which the cache answered (see tryServe). */
  private turn = 0;
  private turnEnding = false;
  private readonly endTurn = (): void => {
    this.turn++;
    this.turnEnding = false;
  };
  private readonly mounts: Mount[] = [];
  /**
   * How long an entry stands before it is checked again. The per-request stat notices changed
   * content; this bounds what a stat of the file cannot see: a .br/.gz sibling appearing next to
   * it, or its real path leaving the mount's root.
   */
  private readonly ttlMs: number;
  private totalBytes = 0;
  /** Off once the server is closing, so fastify's own 503-on-close answers. */
  enabled = true;

  constructor(ttlMs = 2000) {
    this.ttlMs = ttlMs;
  }

  addMount(prefix: string, realRoot: string): void {
    this.mounts.push({ prefix, under: realRoot.endsWith(sep) ? realRoot : realRoot + sep });
  }

  /** Answers from memory and returns true, or returns false to let fastify handle the request. */
  tryServe(req: ForwardedRequest, res: ForwardedResponse): boolean {
    if (!this.enabled || (req.method !== 'GET' && req.method !== 'HEAD') || this.entries.size === 0) return false;
    const h = req.headers;
    // Ranges and validators are rare and subtle: @fastify/send keeps answering them.
    if (h.range !== undefined || h['if-none-match'] !== undefined || h['if-modified-since'] !== undefined || h['if-match'] !== undefined || h['if-unmodified-since'] !== undefined) return false;
    const key = cacheKey(req.url);
    const entry = this.entries.get(key);
    if (entry === undefined) return false;
    // A sync stat of a hot inode is a few microseconds; an async one costs a thread-pool trip.
    // It follows symlinks: a link turned to point elsewhere is another inode, and drops the entry.
    // Once per event-loop turn: the requests read in one turn arrived together, so a change to
    // the file is concurrent with all of them, and a request sent after a change always comes in
    // a later turn. Under load a turn carries a request per busy connection.
    if (entry.checkedTurn !== this.turn) {
      const st = statSync(entry.file, { throwIfNoEntry: false });
      if (st === undefined || !sameFile(entry, st)) {
        this.drop(key, entry);
        return false;
      }
      entry.checkedTurn = this.turn;
      if (!this.turnEnding) {
        this.turnEnding = true;
        setImmediate(this.endTurn);
      }
    }
    // Past its time the entry is checked again in the background and answers meanwhile: its bytes
    // are still the file's (the stat says so), and a miss would send the client's connection to
    // node:http for good (gateway/front/lean-front.ts).
    if (Date.now() >= entry.expires) this.revalidate(key, entry);
    res.writeHead(200, entry.headers);
    res.end(req.method === 'HEAD' ? undefined : entry.body);
    return true;
  }

  /**
   * After @fastify/static's `route` answered `url` with `headers`: remembers the file behind it if that
   * answer is one the cache may repeat. Runs in the background; failures just mean no entry.
   */
  noteResponse(route: string, url: string, method: string, reqHeaders: IncomingMessage['headers'], status: number, headers: ReplyHeaders): void {
    if (!this.enabled || method !== 'GET' || status !== 200 || reqHeaders.range !== undefined) return;
    if (headers['content-encoding'] !== undefined || typeof headers.etag !== 'string') return;
    const key = cacheKey(url);
    if (this.entries.has(key) || this.filling.has(key)) return;
    // The route fastify chose (`/prefix/*`) names the mount, as nested prefixes could not.
    const mount = this.mounts.find((m) => route === `${m.prefix}*` && key.startsWith(m.prefix));
    if (mount === undefined) return;
    this.filling.add(key);
    this.track(this.fill(key, mount, headers).finally(() => this.filling.delete(key)));
  }

  private async fill(key: string, mount: Mount, headers: ReplyHeaders): Promise<void> {
    // @fastify/static accepted this URL, so it is canonical; the file it named is re-derived
    // here and then must prove itself: real path under the root, identity matching the ETag.
    const logical = mountedFile(key, mount.prefix, mount.under);
    if (logical === null) return;
    const real = await realpath(logical);
    if (!real.startsWith(mount.under)) return;
    // A precompressed sibling makes the answer depend on Accept-Encoding: not for this cache.
    if ((await exists(`${logical}.br`)) || (await exists(`${logical}.gz`))) return;
    const fh = await open(real, 'r');
    try {
      const st = await fh.stat();
      if (!st.isFile() || st.size > MAX_FILE_BYTES) return;
      if (headers.etag !== `W/"${st.size.toString(16)}-${st.mtime.getTime().toString(16)}"`) return;
      const body = await fh.readFile();
      // Content changed while being read: the next response will try again.
      const after = await fh.stat();
      if (body.length !== st.size || after.size !== st.size || after.mtimeMs !== st.mtimeMs || after.ctimeMs !== st.ctimeMs) return;
      this.store(key, {
        file: logical,
        under: mount.under,
        checking: false,
        checkedTurn: -1,
        dev: st.dev,
        ino: st.ino,
        size: st.size,
        mtimeMs: st.mtimeMs,
        ctimeMs: st.ctimeMs,
        expires: Date.now() + this.ttlMs,
        headers: outgoing(headers, st.size),
        body,
      });
    } finally {
      await fh.close();
    }
  }

  /** Waits for the background fills and checks under way (tests). */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private track(work: Promise<void>): void {
    const p = work.catch(() => {}).finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /** What a stat cannot see: the real path leaving the root, a .br/.gz sibling appearing. */
  private revalidate(key: string, entry: Entry): void {
    if (entry.checking) return;
    entry.checking = true;
    this.track(
      (async () => {
        let keep = false;
        try {
          keep = (await realpath(entry.file)).startsWith(entry.under) && !(await exists(`${entry.file}.br`)) && !(await exists(`${entry.file}.gz`));
        } finally {
          entry.checking = false;
          if (keep) entry.expires = Date.now() + this.ttlMs;
          else this.drop(key, entry);
        }
      })(),
    );
  }

  private store(key: string, entry: Entry): void {
    if (!this.enabled) return;
    this.totalBytes += entry.size;
    this.entries.set(key, entry);
    // Map order is insertion order: the first keys are the oldest entries.
    for (const [k, e] of this.entries) {
      if (this.totalBytes <= MAX_TOTAL_BYTES) break;
      this.drop(k, e);
    }
  }

  private drop(key: string, entry: Entry): void {
    if (this.entries.get(key) !== entry) return;
    this.entries.delete(key);
    this.totalBytes -= entry.size;
  }

  clear(): void {
    this.entries.clear();
    this.totalBytes = 0;
  }
}

/** The URL path without its query: @fastify/static ignores the query too. */
function cacheKey(url: string | undefined): string {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q === -1 ? u : u.slice(0, q);
}

/** Same inode, same size, same mtime and ctime: the bytes read at fill time are still the file's. */
function sameFile(e: Entry, st: Stats): boolean {
  return st.ino === e.ino && st.dev === e.dev && st.size === e.size && st.mtimeMs === e.mtimeMs && st.ctimeMs === e.ctimeMs;
}

/** The headers @fastify/static sent, to be sent again verbatim (Date and Connection are node's). */
function outgoing(headers: ReplyHeaders, size: number): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) out[name] = value;
  out['content-length'] = size;
  return out;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
