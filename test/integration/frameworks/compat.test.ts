// Issue 13's compatibility suite, the middleware rows: real packages from npm, each app written as
// its framework's docs show (test/fixtures/frameworks), on the four paths of test/support/four-paths.ts.
// Each row checks status, headers, the exact body bytes and the cookies as the client gets them:
// a compressed body decodes once to the app's text (no hop compresses it again or strips the
// encoding), a range is the file's exact bytes, a 304 has no body, a 20 MiB upload reaches multer
// whole (its sha256 is the one sent), every Set-Cookie arrives as its own header.
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { type Bases, fourPathsMissing, PATHS, send, startFourPaths } from '../../support/four-paths.js';
import { fixturesDir } from '../../../support/paths.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { needPeer } from '../../support/peers.js';

const APPS = join(fixturesDir, 'frameworks');
/** What both compressing apps send: ~80 KiB of text, well over each middleware's 1 KiB threshold. */
const TEXT = Array.from({ length: 2000 }, (_, i) => `line ${i}: the same words, compressed once\n`).join('');
const ALPHABET = readFileSync(join(APPS, 'public', 'alphabet.txt'));
const UPLOAD = randomBytes(20 * 1024 * 1024);
const UPLOAD_SHA = createHash('sha256').update(UPLOAD).digest('hex');
const SMALL_FILE = randomBytes(64 * 1024);
const COOKIE_SECRET = 'portico cookie secret';

/** A multipart/form-data body: text fields, then one file part. */
function multipart(fields: Record<string, string>, file: { field: string; name: string; type: string; data: Buffer }): { body: Buffer; type: string } {
  const boundary = `----portico${randomBytes(8).toString('hex')}`;
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  }
  parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${file.field}"; filename="${file.name}"\r\nContent-Type: ${file.type}\r\n\r\n`));
  parts.push(file.data, Buffer.from(`\r\n--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), type: `multipart/form-data; boundary=${boundary}` };
}

function json(body: Buffer): unknown {
  return JSON.parse(body.toString('utf8'));
}

/** A gzip body that decodes, once, to exactly `text`. */
function assertGzipOf(res: { headers: Record<string, unknown>; body: Buffer }, text: string): void {
  assert.equal(res.headers['content-encoding'], 'gzip');
  assert.match(String(res.headers.vary), /accept-encoding/i);
  assert.ok(res.body.length < Buffer.byteLength(text) / 4, `a ${res.body.length}-byte body for ${Buffer.byteLength(text)} bytes of text is not compressed`);
  assert.equal(gunzipSync(res.body).toString('utf8'), text);
}

function honoCases(words: string, base: () => string): void {
  test(`${words}: Hono compress(): gzip once, decoding to the exact text; identity without Accept-Encoding`, async () => {
    const gz = await send(base(), '/text', { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(gz.status, 200);
    assert.equal(gz.headers['content-type'], 'text/plain;charset=UTF-8');
    assertGzipOf(gz, TEXT);
    const plain = await send(base(), '/text');
    assert.equal(plain.status, 200);
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.body.toString('utf8'), TEXT);
  });

  test(`${words}: Hono setCookie: three Set-Cookie headers arrive one by one; getCookie reads the request's`, async () => {
    const set = await send(base(), '/cookies/set');
    assert.equal(set.status, 200);
    assert.equal(set.body.toString(), 'three cookies');
    assert.deepEqual(set.headers['set-cookie'], ['session=abc123; Path=/; HttpOnly', 'theme=dark; Max-Age=3600; Path=/; SameSite=Lax', 'lang=en%2C%20fr; Path=/; Secure']);
    const read = await send(base(), '/cookies/read', { headers: { cookie: 'session=abc123; theme=dark; lang=en%2C%20fr' } });
    assert.equal(read.status, 200);
    assert.deepEqual(json(read.body), { session: 'abc123', all: { session: 'abc123', theme: 'dark', lang: 'en, fr' } });
  });
}

function expressCases(words: string, base: () => string): void {
  test(`${words}: Express express.static: Range gives 206 with the exact bytes and Content-Range; past the end 416`, async () => {
    const part = await send(base(), '/static/alphabet.txt', { headers: { range: 'bytes=100-199' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-range'], `bytes 100-199/${ALPHABET.length}`);
    assert.equal(part.headers['content-length'], '100');
    assert.equal(part.headers['accept-ranges'], 'bytes');
    assert.deepEqual(part.body, ALPHABET.subarray(100, 200));
    const tail = await send(base(), '/static/alphabet.txt', { headers: { range: 'bytes=-42' } });
    assert.equal(tail.status, 206);
    assert.equal(tail.headers['content-range'], `bytes ${ALPHABET.length - 42}-${ALPHABET.length - 1}/${ALPHABET.length}`);
    assert.deepEqual(tail.body, ALPHABET.subarray(ALPHABET.length - 42));
    const past = await send(base(), '/static/alphabet.txt', { headers: { range: `bytes=${ALPHABET.length}-` } });
    assert.equal(past.status, 416);
    assert.equal(past.headers['content-range'], `bytes */${ALPHABET.length}`);
  });

  test(`${words}: Express express.static: If-None-Match and If-Modified-Since get a 304 with no body`, async () => {
    const full = await send(base(), '/static/alphabet.txt');
    assert.equal(full.status, 200);
    assert.deepEqual(full.body, ALPHABET);
    const etag = full.headers.etag;
    const lastModified = full.headers['last-modified'];
    assert.ok(etag && lastModified, `ETag ${etag}, Last-Modified ${lastModified}`);
    const byTag = await send(base(), '/static/alphabet.txt', { headers: { 'if-none-match': etag } });
    assert.equal(byTag.status, 304);
    assert.equal(byTag.headers.etag, etag);
    assert.equal(byTag.body.length, 0);
    const byDate = await send(base(), '/static/alphabet.txt', { headers: { 'if-modified-since': lastModified } });
    assert.equal(byDate.status, 304);
    assert.equal(byDate.body.length, 0);
    // A tag that does not match is the whole file again.
    const stale = await send(base(), '/static/alphabet.txt', { headers: { 'if-none-match': '"not-this-one"' } });
    assert.equal(stale.status, 200);
    assert.deepEqual(stale.body, ALPHABET);
  });

  test(`${words}: Express multer: a 20 MiB multipart upload arrives whole (its sha256)`, async () => {
    const form = multipart({ note: 'twenty mebibytes' }, { field: 'file', name: 'random.bin', type: 'application/octet-stream', data: UPLOAD });
    const res = await send(base(), '/upload', { method: 'POST', headers: { 'content-type': form.type, 'content-length': form.body.length }, body: form.body });
    assert.equal(res.status, 200, res.body.toString());
    assert.deepEqual(json(res.body), { note: 'twenty mebibytes', name: 'random.bin', type: 'application/octet-stream', size: UPLOAD.length, sha256: UPLOAD_SHA });
  });

  test(`${words}: Express compression(): a streamed body, gzip once, decoding to the exact text`, async () => {
    const gz = await send(base(), '/text', { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(gz.status, 200);
    assert.equal(gz.headers['content-type'], 'text/plain; charset=utf-8');
    assertGzipOf(gz, TEXT);
    const plain = await send(base(), '/text');
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.body.toString('utf8'), TEXT);
  });

  test(`${words}: Express cookie-parser: a signed cookie round trip; a forged one reads false`, async () => {
    const sig = createHmac('sha256', COOKIE_SECRET).update('abc123').digest('base64').replace(/=+$/, '');
    const signed = `session=${encodeURIComponent(`s:abc123.${sig}`)}`;
    const set = await send(base(), '/cookies/set');
    assert.equal(set.status, 200);
    assert.deepEqual(set.headers['set-cookie'], [`${signed}; Path=/; HttpOnly`, 'theme=dark; Path=/']);
    const read = await send(base(), '/cookies/read', { headers: { cookie: `${signed}; theme=dark` } });
    assert.deepEqual(json(read.body), { signed: { session: 'abc123' }, plain: { theme: 'dark' } });
    const forged = await send(base(), '/cookies/read', { headers: { cookie: `session=${encodeURIComponent(`s:abc124.${sig}`)}` } });
    assert.deepEqual(json(forged.body), { signed: { session: false }, plain: {} });
  });
}

function koaCases(words: string, base: () => string): void {
  test(`${words}: Koa + koa-body: JSON and urlencoded bodies parsed`, async () => {
    const doc = { a: [1, 2], b: { c: 'd' }, text: 'ünïcödé' };
    const res = await send(base(), '/', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(doc) });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    assert.deepEqual(json(res.body), { type: 'application/json', body: doc, files: {} });
    const form = await send(base(), '/', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1&b=two&b=three&c=%E2%9C%93' });
    assert.equal(form.status, 200);
    assert.deepEqual(json(form.body), { type: 'application/x-www-form-urlencoded', body: { a: '1', b: ['two', 'three'], c: '✓' }, files: {} });
  });

  test(`${words}: Koa + koa-body: a multipart form's fields and file parsed`, async () => {
    const form = multipart({ note: 'hi', other: 'there' }, { field: 'file', name: 'small.bin', type: 'application/octet-stream', data: SMALL_FILE });
    const res = await send(base(), '/', { method: 'POST', headers: { 'content-type': form.type }, body: form.body });
    assert.equal(res.status, 200);
    assert.deepEqual(json(res.body), {
      type: 'multipart/form-data',
      body: { note: 'hi', other: 'there' },
      files: { file: { name: 'small.bin', type: 'application/octet-stream', size: SMALL_FILE.length, sha256: createHash('sha256').update(SMALL_FILE).digest('hex') } },
    });
  });
}

describe('Hono, Express 5 and Koa with their middleware, on every path', { skip: needPeer(fourPathsMissing()), timeout: 180_000 }, () => {
  const tmp = makeTmpDir('compat');
  const stop: Array<() => Promise<unknown>> = [];
  let hono: Bases;
  let express: Bases;
  let koa: Bases;

  before(async () => {
    [hono, express, koa] = await Promise.all(['hono-compress-cookie-app.mjs', 'express-compat-app.mjs', 'koa-body-app.mjs'].map((app) => startFourPaths(tmp.path, join(APPS, app), stop)));
  });

  after(async () => {
    for (const s of stop.reverse()) await s();
    tmp.cleanup();
  });

  for (const [name, words] of PATHS) {
    honoCases(words, () => hono[name]);
    expressCases(words, () => express[name]);
    koaCases(words, () => koa[name]);
  }
});
