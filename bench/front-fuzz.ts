/**
 * `npm run fuzz:front`: random HTTP/1.1 byte streams against `portico serve`'s front (the lean
 * front, node:http behind it, the native link to one worker; test/fixtures/connection-app.mjs):
 * GETs, Content-Length and chunked POSTs, HEAD, HTTP/1.0, Connection: close, a missing Host,
 * garbage, overlong request lines and duplicate Content-Lengths, one to five pipelined in a stream,
 * each stream split at random points and written with random pauses. Checked: every stream gets an
 * answer that starts with a status line, the answers to the requests before anything refused come
 * in order, and once the run is over nothing is left in flight at the worker (its graceful stop
 * says "(0 in flight)"): a request whose client went away must not keep its worker or its slot.
 * Environment: FUZZ_CASES (300), FUZZ_SEED (random; printed, so a run replays the same streams).
 * Exits 1 on any failed check.
 */
import { connect } from 'node:net';
import { join } from 'node:path';
import { startProcess } from '../support/child-process.js';
import { freePort } from '../support/free-port.js';
import { fixturesDir, porticoBin } from '../support/paths.js';
import { envInt } from './env-int.js';

/** A request and the path its answer names (null: no answer of the echo app to look for). */
interface Piece {
  bytes: string;
  echo: string | null;
}

/** A seeded generator (a linear congruential one is plenty to pick shapes and split points). */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 0x100000000;
  };
}

function piece(i: number, rnd: () => number): Piece {
  const k = rnd();
  const host = 'Host: t\r\n';
  if (k < 0.35) return { bytes: `GET /g${i} HTTP/1.1\r\n${host}X-A: ${'a'.repeat(Math.floor(rnd() * 50))}\r\n\r\n`, echo: `GET /g${i}` };
  if (k < 0.5) {
    const body = 'x'.repeat(1 + Math.floor(rnd() * 3000));
    return { bytes: `POST /p${i} HTTP/1.1\r\n${host}Content-Length: ${body.length}\r\n\r\n${body}`, echo: `POST /p${i} ${body}` };
  }
  if (k < 0.6) {
    const parts = ['ab', 'cdef', 'g'.repeat(1 + Math.floor(rnd() * 100))];
    const chunks = parts.map((p) => `${p.length.toString(16)}\r\n${p}\r\n`).join('');
    return { bytes: `POST /c${i} HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n\r\n${chunks}0\r\n\r\n`, echo: `POST /c${i} ${parts.join('')}` };
  }
  if (k < 0.7) return { bytes: `HEAD /h${i} HTTP/1.1\r\n${host}\r\n`, echo: null };
  if (k < 0.76) return { bytes: `GET /no-content HTTP/1.1\r\n${host}\r\n`, echo: null };
  if (k < 0.8) return { bytes: `GET /x${i} HTTP/1.0\r\n\r\n`, echo: null };
  if (k < 0.84) return { bytes: `GET /close${i} HTTP/1.1\r\n${host}Connection: close\r\n\r\n`, echo: null };
  if (k < 0.88) return { bytes: `GET /no-host HTTP/1.1\r\n\r\n`, echo: null };
  if (k < 0.92) return { bytes: `GARBAGE ${i}\r\n\r\n`, echo: null };
  if (k < 0.96) return { bytes: `GET /${'l'.repeat(Math.floor(rnd() * 9000))} HTTP/1.1\r\n${host}\r\n`, echo: null };
  return { bytes: `POST /dup HTTP/1.1\r\n${host}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello`, echo: null };
}

/** Writes `chunks` with pauses between them and returns everything read until the close or 250 ms of quiet. */
function exchange(port: number, chunks: Buffer[]): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    let out = '';
    let timer: NodeJS.Timeout | undefined;
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(out);
    };
    const quiet = (): void => {
      clearTimeout(timer);
      timer = setTimeout(done, 250);
    };
    socket.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      quiet();
    });
    socket.on('close', done);
    socket.on('error', () => {});
    socket.on('connect', async () => {
      for (const c of chunks) {
        if (socket.destroyed) break;
        socket.write(c);
        await new Promise((r) => (Math.random() < 0.5 ? setImmediate(r) : setTimeout(r, 2)));
      }
      quiet();
    });
  });
}

async function main(): Promise<number> {
  const cases = envInt('FUZZ_CASES', 300, 1);
  const seed = envInt('FUZZ_SEED', Math.floor(Math.random() * 0x7fffffff), 0);
  const port = await freePort();
  const app = join(fixturesDir, 'connection-app.mjs');
  const args = [porticoBin, 'serve', app, '--http', `127.0.0.1:${port}`, '--workers', '1', '--disable-logging'];
  console.log(`# portico front fuzz: node ${args.join(' ')}`);
  console.log(`command: FUZZ_CASES=${cases} FUZZ_SEED=${seed} npm run fuzz:front`);
  const serve = startProcess(process.execPath, args);
  await serve.waitFor(/portico master \d+: .* behind http/);
  const rnd = random(seed);
  const failures: string[] = [];
  for (let c = 0; c < cases; c++) {
    const pieces = Array.from({ length: 1 + Math.floor(rnd() * 5) }, (_, i) => piece(i, rnd));
    const bytes = Buffer.from(pieces.map((p) => p.bytes).join(''), 'latin1');
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; ) {
      const len = rnd() < 0.3 ? bytes.length - at : 1 + Math.floor(rnd() * Math.min(200, bytes.length - at));
      chunks.push(bytes.subarray(at, at + len));
      at += len;
    }
    const out = await exchange(port, chunks);
    if (!out.startsWith('HTTP/1.1 ') && !out.startsWith('HTTP/1.0 ')) failures.push(`case ${c}: no status line first: ${JSON.stringify(out.slice(0, 120))}`);
    // The echo answers of the requests before the first one without an echo come in order.
    let from = 0;
    for (const p of pieces) {
      if (p.echo === null) break;
      const at = out.indexOf(p.echo, from);
      if (at < 0) {
        failures.push(`case ${c}: no answer "${p.echo.slice(0, 40)}" in order`);
        break;
      }
      from = at + p.echo.length;
    }
  }
  serve.child.kill('SIGTERM');
  const exit = await new Promise<number | null>((resolve) => serve.child.once('exit', (code) => resolve(code)));
  const inFlight = /\((\d+) in flight\)/.exec(serve.output());
  if (inFlight === null || inFlight[1] !== '0') failures.push(`at the stop: ${inFlight === null ? 'no in-flight count logged' : `${inFlight[1]} request(s) still in flight`}`);
  if (exit !== 0) failures.push(`serve exited ${exit}`);
  console.log(`cases: ${cases}; failures: ${failures.length}`);
  for (const f of failures.slice(0, 20)) console.log(`  ${f}`);
  return failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
