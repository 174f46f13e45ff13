// Backpressure both ways through `portico serve`: a large upload and a large download pass through
// while the gateway's and the worker's resident memory stay within a bound far below their size.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { fixturesDir } from '../../../support/paths.js';
import { startServe, type HttpFront } from '../../support/portico-gateway.js';

const APP = join(fixturesDir, 'stream-app.mjs');
const SIZE = 256 * 1024 * 1024;
/**
 * A process that held the body would grow by 256 MiB. What a streaming one grows by is V8's and
 * malloc's own sizing as 256 MiB of 64 KiB buffers churn through: 45-60 MiB on Node 20, 60-72 MiB
 * on Node 24 here (peak RSS, VmHWM). The bound is a third of the body: streaming passes, holding
 * any large part of it fails.
 */
const BOUND = 88 * 1024 * 1024;

/**
 * Resident memory of a process in bytes: VmRSS now, or VmHWM, its peak so far, which catches a
 * buffer that grew mid-transfer and was collected before the test looked.
 */
function rss(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m, `no ${field} for ${pid}`);
  return Number(m[1]) * 1024;
}

/** The serve process's forked worker (its only child). */
function childOf(pid: number): number {
  const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  assert.equal(kids.length, 1, `serve ${pid} should have one worker child, has ${kids.join(',')}`);
  return Number(kids[0]);
}

/** `bytes` of generated data, made as the socket takes them, never held whole. */
function generated(bytes: number): Readable {
  const chunk = Buffer.alloc(64 * 1024, 0x62);
  let left = bytes;
  return new Readable({
    read() {
      const n = Math.min(left, chunk.length);
      left -= n;
      this.push(n === chunk.length ? chunk : chunk.subarray(0, n));
      if (left === 0) this.push(null);
    },
  });
}

function upload(base: string, bytes: number): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path: '/count', method: 'POST', agent: false, headers: { 'content-length': String(bytes) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => (text += s));
      res.on('end', () => resolve(`${res.statusCode} ${text}`));
    });
    req.on('error', reject);
    generated(bytes).pipe(req);
  });
}

/** Reads the download slowly enough that the sender must wait (a pause every 4 MiB), counting bytes. */
function download(base: string, bytes: number): Promise<number> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path: `/generate?bytes=${bytes}`, agent: false }, (res) => {
      let total = 0;
      let sincePause = 0;
      res.on('data', (c: Buffer) => {
        total += c.length;
        sincePause += c.length;
        if (sincePause >= 4 * 1024 * 1024) {
          sincePause = 0;
          res.pause();
          setTimeout(() => res.resume(), 5);
        }
      });
      res.on('end', () => resolve(total));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

for (const link of ['native', 'uwsgi'] as const) {
  describe(`portico serve --link ${link}: ${SIZE >> 20} MiB up and down in bounded memory`, { timeout: 120_000 }, () => {
    let front: HttpFront | undefined;
    let gatewayPid = 0;
    let workerPid = 0;
    let base = { gateway: 0, worker: 0 };

    before(
      async () => {
        // --body-limit (64 MiB by default) applies to every upload: this one is 256 MiB.
        front = await startServe(APP, ['--link', link, '--body-limit', String(2 * SIZE)]);
        gatewayPid = front.proc.child.pid!;
        workerPid = childOf(gatewayPid);
        // Warm both up (code paths compiled, buffers allocated) before the baseline is taken.
        assert.equal(await upload(front.url, 4 * 1024 * 1024), `200 ${4 * 1024 * 1024}`);
        assert.equal(await download(front.url, 4 * 1024 * 1024), 4 * 1024 * 1024);
        base = { gateway: rss(gatewayPid), worker: rss(workerPid) };
      },
      { timeout: 30_000 },
    );

    after(async () => {
      await front?.stop();
    });

    const assertBounded = (what: string): void => {
      const grown = { gateway: rss(gatewayPid, 'VmHWM') - base.gateway, worker: rss(workerPid, 'VmHWM') - base.worker };
      const mib = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;
      assert.ok(grown.gateway < BOUND, `${what}: the gateway grew by ${mib(grown.gateway)}`);
      assert.ok(grown.worker < BOUND, `${what}: the worker grew by ${mib(grown.worker)}`);
    };

    test('upload: the app counts every byte, neither process holds the body', async () => {
      assert.equal(await upload(front!.url, SIZE), `200 ${SIZE}`);
      assertBounded('upload');
    });

    test('download to a slow reader: every byte arrives, neither process holds the body', async () => {
      assert.equal(await download(front!.url, SIZE), SIZE);
      assertBounded('download');
    });
  });
}
