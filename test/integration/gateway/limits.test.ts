// The gateway's limits on what a client sends (gateway/front/http-limits.ts), through a real `portico
// gateway` (and once `portico serve`) with the echo app behind it: each refusal has its status, its
// PORTICO_ERR_* code in the log, and never reaches the app (the app logs every request it serves,
// with the client's port, to a file). Also the framing nginx refuses: Transfer-Encoding with
// Content-Length, repeated Content-Length, obsolete line folding, and names with `_` (dropped).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startProcess, type Started } from '../../../support/child-process.js';
import { withoutAddedRequestId, type Echo } from '../../support/gunicorn-cases.js';
import { fixturesDir, porticoBin } from '../../../support/paths.js';
import { outputLine, startGateway, startServe, type HttpFront } from '../../support/portico-gateway.js';
import { sendRaw, type RawExchange } from '../../support/raw-exchange.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

const LIMITS = [
  '--limit-request-line',
  '200',
  '--limit-request-fields',
  '20',
  '--limit-request-field-size',
  '300',
  '--body-limit',
  '1000',
  '--headers-timeout',
  '1',
  '--request-timeout',
  '2',
  '--keepalive-timeout',
  '1',
];
/** A connection closed by a 1 s timeout closes at least this long after it started waiting. */
const ONE_SECOND_TIMEOUT_MS = 950;

describe('gateway HTTP limits', { timeout: 60_000 }, () => {
  const tmp = makeTmpDir('gateway-limits');
  const hitsFile = join(tmp.path, 'hits');
  const socket = join(tmp.path, 'echo.sock');
  let worker: Started | undefined;
  let gw: HttpFront;
  let wide: HttpFront;
  const fronts: HttpFront[] = [];
  let upstream: string[];

  before(
    async () => {
      writeFileSync(hitsFile, '');
      worker = startProcess(process.execPath, [porticoBin, 'worker', join(fixturesDir, 'echo-app.mjs'), '--socket', socket, '--no-master', '--disable-logging'], {
        env: { ...process.env, ECHO_HITS_FILE: hitsFile },
      });
      await worker.waitFor(/app .* on \S+/);
      upstream = [`portico://unix:${socket}`];
      [gw, wide] = await Promise.all([
        startGateway(upstream, LIMITS),
        // Past Node's maxHeadersCount (2000): the count must still see every field.
        startGateway(upstream, ['--limit-request-fields', '2100']),
      ]);
      fronts.push(gw, wide);
    },
    { timeout: 30_000 },
  );

  after(async () => {
    await Promise.all(fronts.map((f) => f.stop()));
    await worker?.stop();
    tmp.cleanup();
  });

  /** What the app served so far: one [client port, gateway port, method, target] per request. */
  const hits = (): Array<[string, string, string, string]> =>
    readFileSync(hitsFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as [string, string, string, string]);

  const send = (front: HttpFront, text: string | Buffer, expect = 1): Promise<RawExchange> =>
    sendRaw(front.port, Buffer.isBuffer(text) ? text : Buffer.from(text, 'latin1'), { split: 'whole', expect });

  /** A refusal: the status (or a close when `status` is 0), the code logged, and no request at the app. */
  async function refused(front: HttpFront, text: string | Buffer, status: number, code: RegExp): Promise<void> {
    const before = hits().length;
    const ex = await send(front, text);
    if (status === 0) assert.ok(ex.closed && ex.responses.every((r) => r.status >= 400), `closed expected, got ${ex.responses.map((r) => r.status).join(', ')}`);
    else assert.equal(ex.responses[0]?.status, status, ex.responses[0]?.body.toString());
    await outputLine(front.proc, code);
    // A request is in the file before its answer; this one got none from the app, so look after
    // one that did, on the same worker: it must be the only one since.
    const probe = await send(front, 'GET /probe HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(probe.responses[0]?.status, 200);
    assert.deepEqual(hits().slice(before), [[String(probe.localPort), String(front.port), 'GET', '/probe']], 'the refused request reached the app');
  }

  /**
   * A gateway of its own, for a test that counts the open connections: another test's connections,
   * closed by the client, may not have been noticed by the gateway yet.
   */
  async function ownGateway(extra: string[]): Promise<HttpFront> {
    const front = await startGateway(upstream, extra);
    fronts.push(front);
    return front;
  }

  async function echoed(front: HttpFront, text: string): Promise<Echo> {
    const ex = await send(front, text);
    assert.equal(ex.responses[0]?.status, 200, ex.responses[0]?.body.toString());
    const echo = JSON.parse(ex.responses[0]!.body.toString()) as Echo;
    return { ...echo, headers: withoutAddedRequestId(echo.headers) };
  }

  test('--limit-request-line: a line of the limit passes, one byte more is 414', async () => {
    // GET SP target SP HTTP/1.1 = target + 13 bytes.
    await echoed(gw, `GET /${'a'.repeat(200 - 14)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await refused(gw, `GET /${'a'.repeat(200 - 13)} HTTP/1.1\r\nHost: x\r\n\r\n`, 414, /PORTICO_ERR_REQUEST_LINE_TOO_LONG: GET \/a+: .*--limit-request-line 200/);
  });

  test('--limit-request-fields: 20 fields pass, 21 are 431', async () => {
    const fields = (n: number): string => Array.from({ length: n - 1 }, (_, i) => `X-F${i}: ${i}\r\n`).join('');
    const echo = await echoed(gw, `GET /f HTTP/1.1\r\nHost: x\r\n${fields(20)}\r\n`);
    assert.equal(echo.headers.filter(([k]) => k.startsWith('HTTP_')).length, 20);
    await refused(gw, `GET /f HTTP/1.1\r\nHost: x\r\n${fields(21)}\r\n`, 431, /PORTICO_ERR_TOO_MANY_HEADERS: .*--limit-request-fields 20/);
  });

  test("--limit-request-fields past Node's 2000: the check sees every field", async () => {
    const fields = (n: number): string => Array.from({ length: n - 1 }, (_, i) => `X-F${i}: ${i}\r\n`).join('');
    const echo = await echoed(wide, `GET /f HTTP/1.1\r\nHost: x\r\n${fields(2100)}\r\n`);
    assert.deepEqual(echo.headers.at(-1), ['HTTP_X_F2098', '2098']);
    await refused(wide, `GET /f HTTP/1.1\r\nHost: x\r\n${fields(2101)}\r\n`, 431, /PORTICO_ERR_TOO_MANY_HEADERS/);
  });

  test('--limit-request-field-size: `Name: value` CRLF of the limit passes, one byte more is 431', async () => {
    // X-Big: value CRLF = value + 9 bytes.
    await echoed(gw, `GET /s HTTP/1.1\r\nHost: x\r\nX-Big: ${'v'.repeat(300 - 9)}\r\n\r\n`);
    await refused(gw, `GET /s HTTP/1.1\r\nHost: x\r\nX-Big: ${'v'.repeat(300 - 8)}\r\n\r\n`, 431, /PORTICO_ERR_HEADER_FIELD_TOO_LARGE: .*header X-Big of 301 bytes/);
  });

  test("Node's parser budget: gunicorn's defaults fit in it, and past it is 431", async () => {
    // Node counts the request line into maxHeaderSize (16 KiB by default): a 4094-byte line and
    // three 8190-byte fields, all within gunicorn's limits, must still pass.
    const big = (i: number): string => `X-Big${i}: ${'v'.repeat(8190 - 11)}\r\n`;
    const echo = await echoed(wide, `GET /${'l'.repeat(4094 - 14)} HTTP/1.1\r\nHost: x\r\n${big(1)}${big(2)}${big(3)}\r\n`);
    assert.equal(echo.headers.filter(([k]) => k.startsWith('HTTP_X_BIG')).length, 3);
    // Past the budget (more fields than counted, each near the size limit) Node refuses by itself.
    const many = Array.from({ length: 40 }, (_, i) => `X-M${String(i).padStart(2, '0')}: ${'m'.repeat(280)}\r\n`).join('');
    await refused(gw, `GET /many HTTP/1.1\r\nHost: x\r\n${many}\r\n`, 431, /PORTICO_ERR_HEADERS_TOO_LARGE: 127\.0\.0\.1: HPE_HEADER_OVERFLOW/);
  });

  test('--body-limit with Expect: 100-continue: the 413 comes alone, no 100 Continue before it', async () => {
    const ex = await send(gw, 'POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\nExpect: 100-continue\r\n\r\n');
    assert.deepEqual(
      ex.responses.map((r) => r.status),
      [413],
    );
    // Within the limit, the client is invited to send its body.
    const ok = await send(gw, 'POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n');
    assert.equal(ok.responses[0]?.status, 100);
  });

  test('--body-limit: a larger Content-Length is 413 at once, before any body is sent', async () => {
    const echo = await echoed(gw, `POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n${'b'.repeat(1000)}`);
    assert.equal(Buffer.from(echo.body, 'base64').length, 1000);
    // Only the head goes out: the 413 must not wait for the 1001 bytes.
    await refused(gw, 'POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n', 413, /PORTICO_ERR_BODY_TOO_LARGE: POST \/b: .*Content-Length 1001 over --body-limit 1000/);
  });

  test('--body-limit: a chunked body passing the limit closes the connection', async () => {
    const chunked = (n: number): string => `POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${n.toString(16)}\r\n${'c'.repeat(n)}\r\n0\r\n\r\n`;
    const echo = await echoed(gw, chunked(1000));
    assert.equal(Buffer.from(echo.body, 'base64').length, 1000);
    const ex = await send(gw, chunked(1001));
    assert.ok(ex.closed && !ex.responses.some((r) => r.status < 400), `closed expected, got ${ex.responses.map((r) => r.status).join(', ')}`);
    await outputLine(gw.proc, /PORTICO_ERR_BODY_TOO_LARGE: POST \/c: .*body over --body-limit 1000 bytes; connection closed/);
  });

  test('--headers-timeout: a head that never ends (slowloris) gets 408 and a close', async () => {
    const ex = await sendRaw(gw.port, Buffer.from('GET /slow HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n'), { split: 'whole', expect: 2 });
    assert.ok(ex.closed && !ex.timedOut, 'the connection must close');
    assert.deepEqual(
      ex.responses.map((r) => r.status),
      [408],
    );
    assert.ok(!hits().some(([, , , target]) => target === '/slow'));
    await outputLine(gw.proc, /PORTICO_ERR_REQUEST_TIMEOUT: 127\.0\.0\.1: ERR_HTTP_REQUEST_TIMEOUT/);
  });

  test('--request-timeout: a body that stops coming gets 408 and a close (the app sees an abort)', async () => {
    // expect 2: read on until the close.
    const ex = await sendRaw(gw.port, Buffer.from('POST /slow-body HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345'), { split: 'whole', expect: 2 });
    assert.ok(ex.closed && !ex.timedOut, 'the connection must close');
    assert.deepEqual(
      ex.responses.map((r) => r.status),
      [408],
    );
    await outputLine(gw.proc, /PORTICO_ERR_REQUEST_TIMEOUT: 127\.0\.0\.1: ERR_HTTP_REQUEST_TIMEOUT/);
  });

  test('--headers-timeout: a partial head after a keep-alive request gets 408 too', async () => {
    const ex = await sendRaw(gw.port, Buffer.from('GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /slow-second HTTP/1.1\r\nHost: x\r\n'), { split: 'whole', expect: 3 });
    assert.ok(ex.closed && !ex.timedOut, 'the connection must close');
    assert.deepEqual(
      ex.responses.map((r) => r.status),
      [200, 408],
    );
  });

  test('--headers-timeout: connections that send nothing are closed without an answer', async () => {
    // As in the report: silent connections held the --max-connections slots for good.
    const started = Date.now();
    const silent = await Promise.all(Array.from({ length: 5 }, () => sendRaw(gw.port, Buffer.alloc(0), { split: 'whole', expect: 1, timeoutMs: 5000 })));
    assert.ok(Date.now() - started >= ONE_SECOND_TIMEOUT_MS, `closed after ${Date.now() - started} ms, before the timeout`);
    for (const ex of silent) {
      assert.ok(ex.closed && !ex.timedOut, 'a silent connection must be closed by the gateway');
      assert.equal(ex.responses.length + ex.rest.length, 0, 'nothing is answered to a connection that asked nothing');
    }
    // One line for many (nginx logs these at info): a flood of them is no flood of log lines.
    await outputLine(gw.proc, /^gateway: \d+ connection\(s\) closed: nothing sent within --headers-timeout 1 s$/m);
  });

  test('--keepalive-timeout: an idle keep-alive connection is closed, on the lean front and on node:http', async () => {
    const cases: Array<[string, string]> = [
      // Forwarded by the lean front.
      ['lean', 'GET /idle HTTP/1.1\r\nHost: x\r\n\r\n'],
      // A chunked body: node:http answers it and keeps the connection.
      ['node:http', 'POST /idle HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n'],
    ];
    await Promise.all(
      cases.map(async ([path, text]) => {
        const started = Date.now();
        // expect 2: read on after the answer, until the gateway closes.
        const ex = await sendRaw(gw.port, Buffer.from(text), { split: 'whole', expect: 2, timeoutMs: 5000 });
        assert.deepEqual(
          ex.responses.map((r) => r.status),
          [200],
          path,
        );
        assert.equal(ex.responses[0]!.headers.find(([n]) => n === 'keep-alive')?.[1], 'timeout=1', path);
        assert.ok(ex.closed && !ex.timedOut, `${path}: the idle connection must be closed`);
        assert.ok(Date.now() - started >= ONE_SECOND_TIMEOUT_MS, `${path}: closed after ${Date.now() - started} ms, before the timeout`);
      }),
    );
  });

  /** A connection that has sent nothing yet. */
  const silentConnection = async (front: HttpFront): Promise<Socket> => {
    const s = connect({ host: '127.0.0.1', port: front.port });
    s.on('error', () => {});
    await once(s, 'connect');
    return s;
  };

  /** A connection with a request in progress: its head was taken (100 Continue came back), half its body is still to come. */
  const busyConnection = async (front: HttpFront): Promise<Socket> => {
    const s = await silentConnection(front);
    s.write('POST /busy HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n');
    const [chunk] = (await once(s, 'data')) as [Buffer];
    assert.match(chunk.toString('latin1'), /^HTTP\/1\.1 100 Continue\r\n/);
    s.write('12345');
    return s;
  };

  const closed = (s: Socket): Promise<unknown> => (s.closed ? Promise.resolve() : once(s, 'close'));

  test('--headers-timeout counts from the accept: a client that waits, then sends part of a head, gets its 408 on time', async () => {
    const slow = await ownGateway(['--headers-timeout', '2']);
    const s = await silentConnection(slow);
    const opened = Date.now();
    let answer = '';
    s.on('data', (d: Buffer) => {
      answer += d.toString('latin1');
    });
    // The client's own slowness, on purpose (nothing to await): most of the timeout passes before its first byte.
    await delay(1500);
    s.write('GET /late HTTP/1.1\r\nHost: x\r\n');
    await closed(s);
    const ms = Date.now() - opened;
    assert.match(answer, /^HTTP\/1\.1 408 /);
    // node:http alone counts from the head's first byte: 2 s after it, 3.5 s after the accept.
    assert.ok(ms >= 1950 && ms < 3200, `closed ${ms} ms after the accept, not about 2 s`);
    await outputLine(slow.proc, /PORTICO_ERR_REQUEST_TIMEOUT: 127\.0\.0\.1: ERR_HTTP_REQUEST_TIMEOUT the request head did not arrive within --headers-timeout of the accept/);
  });

  test('--max-connections: with every slot held by a silent connection, a new client is served and the oldest silent one closed', async () => {
    const few = await ownGateway(['--max-connections', '2']);
    const oldest = await silentConnection(few);
    const younger = await silentConnection(few);
    const ex = await send(few, 'GET /third HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(ex.responses[0]?.status, 200, 'the new client must be served');
    await closed(oldest);
    assert.ok(!younger.closed, 'only the connection waiting longest gives way');
    await outputLine(few.proc, /^gateway: 1 idle connection\(s\) closed to make room for new clients \(--max-connections 2 open\)$/m);
    younger.destroy();
  });

  test('--max-connections: an idle keep-alive connection on node:http makes room; one with a request in progress never does', async () => {
    const few = await ownGateway(['--max-connections', '2']);
    const busy = await busyConnection(few);
    // Answered by node:http (its 417 to an expectation it does not know), then idle between requests.
    const idle = await silentConnection(few);
    idle.write('GET /expect HTTP/1.1\r\nHost: x\r\nExpect: x-unknown\r\n\r\n');
    await once(idle, 'data');
    const ex = await send(few, 'GET /third HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(ex.responses[0]?.status, 200, 'the new client must be served');
    await closed(idle);
    // The request in progress goes on: the rest of its body, then its answer.
    busy.write('67890');
    const [answer] = (await once(busy, 'data')) as [Buffer];
    assert.match(answer.toString('latin1'), /^HTTP\/1\.1 200 /);
    busy.destroy();
  });

  test('--max-connections: with every slot busy, a new client is closed at once and logged; a slot that goes idle takes the next', async () => {
    const few = await ownGateway(['--max-connections', '2']);
    const held = [await busyConnection(few), await busyConnection(few)];
    const ex = await send(few, 'GET /third HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.ok(ex.closed && ex.responses.length === 0);
    await outputLine(few.proc, /PORTICO_ERR_TOO_MANY_CONNECTIONS: .*2 open already/);
    // Its body complete and answered, the first connection idles: the next client takes its place.
    held[0]!.write('67890');
    await once(held[0]!, 'data');
    const after = await send(few, 'GET /after HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(after.responses[0]?.status, 200, 'a connection after one went idle must be served');
    await closed(held[0]!);
    assert.ok(!held[1]!.closed, 'the busy connection stays');
    held[1]!.destroy();
  });

  describe('framing refused as nginx refuses it (400, nothing reaches the app)', () => {
    const cases: Array<[string, string]> = [
      ['Transfer-Encoding with Content-Length', 'POST /te-cl HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
      ['Content-Length twice, same value', 'POST /cl-cl HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello'],
      ['Content-Length twice, different values', 'POST /cl-cl HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'],
      ['Content-Length as a list', 'POST /cl-list HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello'],
      ['obsolete line folding', 'GET /fold HTTP/1.1\r\nHost: x\r\nX-Long: one\r\n two\r\n\r\n'],
      ['space before the colon', 'GET /sp HTTP/1.1\r\nHost: x\r\nContent-Length : 0\r\n\r\n'],
      ['two Host headers', 'GET /hosts HTTP/1.1\r\nHost: x\r\nHost: evil.example\r\n\r\n'],
      ['chunked in HTTP/1.0', 'POST /te10 HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
      ['HTTP/2.0 in an HTTP/1 request line', 'GET /v2 HTTP/2.0\r\nHost: x\r\n\r\n'],
      ['a target that is neither a path nor an http(s) URL', 'PUT s://]ufd/: HTTP/1.1\r\nHost: x\r\n\r\n'],
      ['the asterisk target on GET', 'GET * HTTP/1.1\r\nHost: x\r\n\r\n'],
    ];
    for (const [name, text] of cases) {
      test(name, async () => {
        await refused(gw, text, 400, /PORTICO_ERR_BAD_HTTP_REQUEST/);
      });
    }
  });

  test('OPTIONS * passes as it is; an absolute-form http URL becomes its path and Host, as nginx passes it', async () => {
    assert.equal((await echoed(gw, 'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n')).uri, '*');
    const abs = await echoed(gw, 'GET http://y/abs?q=1 HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(abs.uri, '/abs?q=1');
    assert.deepEqual(
      abs.headers.filter(([k]) => k === 'HTTP_HOST'),
      [['HTTP_HOST', 'y']],
    );
  });

  test('a Transfer-Encoding whose last coding is not chunked is 400, and a body after an empty one is never read as a request', async () => {
    await refused(gw, 'POST /te HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n', 400, /PORTICO_ERR_BAD_HTTP_REQUEST: .*Transfer-Encoding/);
    // Node's parser refuses this one itself (Node 24's the empty one too).
    await refused(gw, 'POST /te HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n', 400, /PORTICO_ERR_BAD_HTTP_REQUEST: .*Transfer-Encoding/);
  });

  test('CONNECT is 405 with a code, not a silent close', async () => {
    const ex = await send(gw, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    assert.equal(ex.responses[0]?.status, 405);
    assert.equal(ex.responses[0]?.body.toString(), '405 PORTICO_ERR_METHOD_NOT_ALLOWED\n');
    await outputLine(gw.proc, /PORTICO_ERR_METHOD_NOT_ALLOWED: CONNECT example\.com:443/);
  });

  test('a name with `_` is dropped on the way to the app, as nginx does; the request passes', async () => {
    const echo = await echoed(gw, 'POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nX_Forwarded_For: 6.6.6.6\r\nTransfer_Encoding: chunked\r\nX-Real: 1\r\n\r\nok');
    assert.deepEqual(
      echo.headers.filter(([k]) => k.startsWith('HTTP_')),
      [
        ['HTTP_HOST', 'x'],
        ['HTTP_CONTENT_LENGTH', '2'],
        ['HTTP_X_REAL', '1'],
      ],
    );
    assert.equal(Buffer.from(echo.body, 'base64').toString(), 'ok');
  });

  test('portico serve takes the same options', async () => {
    const serve = await startServe(join(fixturesDir, 'echo-app.mjs'), ['--limit-request-line', '64', '--headers-timeout', '1', '--keepalive-timeout', '1']);
    fronts.push(serve);
    const ok = await send(serve, 'GET /short HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(ok.responses[0]?.status, 200);
    assert.equal(ok.responses[0]!.headers.find(([n]) => n === 'keep-alive')?.[1], 'timeout=1');
    const silent = await sendRaw(serve.port, Buffer.alloc(0), { split: 'whole', expect: 1, timeoutMs: 5000 });
    assert.ok(silent.closed && !silent.timedOut && silent.responses.length === 0, 'a silent connection must be closed');
    const ex = await send(serve, `GET /${'l'.repeat(64)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.equal(ex.responses[0]?.status, 414);
    await outputLine(serve.proc, /PORTICO_ERR_REQUEST_LINE_TOO_LONG/);
  });
});
