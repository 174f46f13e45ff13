// File upload with a plain Node (req, res) listener: the body is streamed to disk and hashed on
// the way, so a 1 GB upload costs the worker a few 64 KiB chunks of memory, never the whole file.
//
//   UPLOAD_DIR=/srv/uploads npx portico worker examples/upload.mjs --socket /tmp/p.sock --chmod-socket 666
//   curl -T big.iso http://localhost/upload/big.iso      # or --data-binary @big.iso
//
// PUT or POST /upload/NAME  stores the body as UPLOAD_DIR/NAME; answers {name, bytes, sha256}
//
// nginx reads the whole body before it passes the request on (uwsgi_request_buffering, on by
// default), so a slow client ties up nginx, not a worker; client_max_body_size (64m in deploy/nginx)
// is the largest upload it lets through.
import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

const UPLOAD_DIR = process.env.UPLOAD_DIR ?? join(tmpdir(), 'portico-uploads');
mkdirSync(UPLOAD_DIR, { recursive: true });
let partCount = 0;

function reply(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

export default async function upload(req, res) {
  const url = new URL(req.url, 'http://localhost');
  const name = decodeURIComponent(url.pathname.slice('/upload/'.length));
  if (!url.pathname.startsWith('/upload/') || (req.method !== 'PUT' && req.method !== 'POST')) {
    return reply(res, 404, { error: 'PUT /upload/NAME' });
  }
  // A bare file name: no directories, nothing that could climb out of UPLOAD_DIR.
  if (!/^[\w][\w.-]{0,200}$/.test(name)) return reply(res, 400, { error: 'name must be letters, digits, _ . -' });

  const hash = createHash('sha256');
  let bytes = 0;
  // Written under a temporary name and renamed at the end: a half-sent file never shows up as NAME.
  const part = join(UPLOAD_DIR, `.${name}.${process.pid}.${partCount++}.part`);
  try {
    await pipeline(
      req,
      async function* hashOnTheWay(chunks) {
        for await (const chunk of chunks) {
          hash.update(chunk);
          bytes += chunk.length;
          yield chunk;
        }
      },
      createWriteStream(part, { flags: 'wx' }),
    );
    await rename(part, join(UPLOAD_DIR, name));
  } catch (err) {
    // The client went away mid-upload, or the disk is full: leave nothing behind.
    await rm(part, { force: true });
    if (req.destroyed) return;
    throw err;
  }
  reply(res, 201, { name, bytes, sha256: hash.digest('hex') });
}
