// A bounded fuzz run against a live `portico worker` on a unix socket (issue 6, section 2): random,
// truncated, oversized and mutated packets from the captured vectors, and HTTP sent by mistake.
// The long run of the same cases is `npm run fuzz` (bench/fuzz.ts).
// uWSGI's magic vars (UWSGI_FILE, UWSGI_SCRIPT, UWSGI_CHDIR, ...) are covered in
// test/integration/worker/behaviour.test.ts ("uWSGI's magic vars change nothing about what runs").
import { strict as assert } from 'node:assert';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encodePacket } from '../../../protocol/uwsgi/packet-encoder.js';
import { outputLine, type Started } from '../../../support/child-process.js';
import { FUZZ_KINDS } from '../../../support/fuzz-cases.js';
import { formatFailure, runFuzz, singleProcessArgs, vmRssBytes, type FuzzRunOptions } from '../../../support/fuzz-runner.js';
import { fixturesDir } from '../../../support/paths.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { requestVectors } from '../../../support/vectors.js';

const CASES = 600;
const MIB = 1024 * 1024;
/** What HTTP GET on a uwsgi socket logs: "ET" read as the u16le datasize, as uWSGI reports it. */
const HTTP_LINE = /PORTICO_ERR_HTTP_ON_UWSGI_SOCKET: [^\n]*invalid request block size 21573\b/;

/** Resolves once `line` has matched `n` lines of the worker's output. */
function nthLine(proc: Started, line: RegExp, n: number): Promise<RegExpMatchArray> {
  return outputLine(proc, new RegExp(`(?:[\\s\\S]*?${line.source}){${n}}`));
}

/** Writes a packet, keeps the write side open as nginx does, and returns what came back before the close. */
function exchange(socketPath: string, packet: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = connect(socketPath, () => sock.write(packet));
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', reject);
    sock.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

function bodyOf(raw: Buffer): { status: number; body: string } {
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  assert.ok(end > 0, `no response head in ${JSON.stringify(text.slice(0, 200))}`);
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]), body: text.slice(end + 4) };
}

describe('worker fuzz (live, bounded)', { timeout: 120_000 }, () => {
  const tmp = makeTmpDir('worker-fuzz');
  const sock = join(tmp.path, 'w.sock');
  let worker: Started;

  before(async () => {
    // Request lines off: only the errors the cases provoke are logged, and they are what is checked.
    // V8 grows its young generation (two semi-spaces, up to 16 MiB each) when allocation is
    // brisk, at a moment of its choosing: RSS then jumps by up to 30 MiB, which is no leak. Its
    // size is fixed here from the start, so what grows between the two runs is what was kept.
    worker = await startWorker(
      join(fixturesDir, 'fetch-app.mjs'),
      sock,
      ['--disable-logging', '--buffer-size', '4096', ...singleProcessArgs()],
      ['--min-semi-space-size=16', '--max-semi-space-size=16'],
    );
  });
  after(async () => {
    await worker?.stop();
    tmp.cleanup();
  });

  it('answers or closes every connection, keeps serving, and holds its RSS', async (t) => {
    const base: Omit<FuzzRunOptions, 'seed'> = { socket: sock, vectors: requestVectors(), cases: CASES, validEvery: 16, timeoutMs: 10_000 };
    const pid = worker.child.pid!;
    // The same mix first, so lazily grown heaps and buffers are in "before", not in the growth:
    // twice, since V8 sizes its old space up once more after the first (by 10 MiB on Node 20 and
    // 16 MiB on Node 24 here, then flat over four more runs).
    const first = await runFuzz({ ...base, seed: 0xbee0 });
    assert.deepEqual(first.failures.map(formatFailure), []);
    const warm = await runFuzz({ ...base, seed: 0xbeef });
    assert.equal(worker.child.exitCode, null, `the worker exited during the warm-up:\n${worker.output().slice(-4000)}`);
    assert.deepEqual(warm.failures.map(formatFailure), []);
    assert.ok(warm.httpGets > 0);
    await nthLine(worker, HTTP_LINE, first.httpGets + warm.httpGets);
    const rssBefore = vmRssBytes(pid);

    const run = await runFuzz({ ...base, seed: 0x5eed });
    assert.deepEqual(run.failures.map(formatFailure), [], `worker output:\n${worker.output().slice(-3000)}`);
    const rssAfter = vmRssBytes(pid);
    assert.equal(run.cases, CASES);
    assert.equal(run.valid, Math.ceil(CASES / 16));
    // Every kind ran, and both outcomes happened: some cases were answered, some only closed.
    for (const kind of FUZZ_KINDS) assert.ok(run.byKind[kind]! > 0, `no ${kind} case ran`);
    assert.ok(run.answered > 0 && run.answered < run.cases, `answered ${run.answered} of ${run.cases}`);
    // HTTP on the uwsgi socket is named in the log the way uWSGI users know it, this run too.
    assert.ok(run.httpGets > 0);
    await nthLine(worker, HTTP_LINE, first.httpGets + warm.httpGets + run.httpGets);
    const grown = rssAfter - rssBefore;
    t.diagnostic(`worker RSS ${(rssBefore / MIB).toFixed(1)} -> ${(rssAfter / MIB).toFixed(1)} MiB over ${CASES} cases`);
    assert.ok(grown < 10 * MIB, `worker RSS grew ${(grown / MIB).toFixed(1)} MiB over ${CASES} cases (${(rssBefore / MIB).toFixed(1)} -> ${(rssAfter / MIB).toFixed(1)} MiB)`);
    assert.equal(worker.child.exitCode, null, 'the worker died');
  });

  it('HTTP_TRANSFER_ENCODING never overrides a CONTENT_LENGTH; without one (uWSGI router) a chunked body is de-chunked', async () => {
    const vars = (cl: string | null): Array<[string, string]> => [
      ['REQUEST_METHOD', 'POST'],
      ['REQUEST_URI', '/echo'],
      ['PATH_INFO', '/echo'],
      ['HTTP_HOST', 'x'],
      ['HTTP_TRANSFER_ENCODING', 'chunked'],
      ...(cl === null ? [] : [['CONTENT_LENGTH', cl] as [string, string]]),
    ];
    // "0\r\n\r\n" is a whole chunked body saying "empty": a worker that de-chunked would pass 0 bytes.
    for (const body of ['hello', '0\r\n\r\n']) {
      const res = bodyOf(await exchange(sock, encodePacket({ vars: vars('5') }, Buffer.from(body))));
      assert.equal(res.status, 200);
      assert.equal(res.body, body, `CONTENT_LENGTH 5 with Transfer-Encoding: chunked, body ${JSON.stringify(body)}`);
    }
    // No CONTENT_LENGTH at all (uWSGI's router): the body that follows is chunked, and the app gets it de-chunked.
    const dechunked = bodyOf(await exchange(sock, encodePacket({ vars: vars(null) }, Buffer.from('5\r\nhello\r\n0\r\n\r\n'))));
    assert.equal(dechunked.status, 200);
    assert.equal(dechunked.body, 'hello');
    // An empty CONTENT_LENGTH (nginx's for a request without a body) frames alone: no body.
    const empty = bodyOf(await exchange(sock, encodePacket({ vars: vars('') }, Buffer.from('5\r\nhello\r\n0\r\n\r\n'))));
    assert.equal(empty.status, 200);
    assert.equal(empty.body, '');
  });

  // Found by this fuzz (modifier1 flipped to 77 on a POST vector): the decoder passed the claimed
  // body on after handing the socket to the native link, and the worker died on a null exchange.
  it('a HELLO (modifier1 77) whose CONTENT_LENGTH claims a body is refused; the worker lives on', async () => {
    const raw = await exchange(sock, encodePacket({ modifier1: 77, vars: [['CONTENT_LENGTH', '5']] }, Buffer.from('hello')));
    assert.equal(raw[0], 16, `expected a HELLO_ACK frame, got ${raw.subarray(0, 16).toString('hex')}`);
    assert.equal(raw[5], 1, 'the HELLO_ACK is a refusal');
    const res = bodyOf(
      await exchange(
        sock,
        encodePacket({
          vars: [
            ['REQUEST_METHOD', 'GET'],
            ['REQUEST_URI', '/'],
            ['PATH_INFO', '/'],
            ['HTTP_HOST', 'x'],
          ],
        }),
      ),
    );
    assert.equal(res.status, 200);
    assert.equal(worker.child.exitCode, null);
  });
});
