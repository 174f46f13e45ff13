// gunicorn's request corpus (test/fixtures/corpora/gunicorn-requests, with its license) against a real `portico gateway`
// with the echo app behind it on the native link: every case over its own TCP connection, sent
// whole and split byte by byte. A valid case must reach the app with the same method, target,
// headers and body (each request of a pipelined case); an invalid case must get a 4xx or a closed
// connection and never reach the app (the app appends every request it serves to a file).
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startProcess, type Started } from '../../../support/child-process.js';
import { ADDED_HOST, invalidWithHost, lacksHost, loadCorpus, withHost, expectedVars, seenVars, type CorpusCase, type Echo, type ExpectedRequest } from '../../support/gunicorn-cases.js';
import { fixturesDir, porticoBin } from '../../../support/paths.js';
import { startGateway, type HttpFront } from '../../support/portico-gateway.js';
import { sendRaw } from '../../support/raw-exchange.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { needPeer, pythonMissing } from '../../support/peers.js';

/** Cases not run, and why. */
const SKIPPED: Array<[RegExp, string]> = [[/^(valid|invalid)\/pp_/, 'PROXY protocol: portico does not speak it (nginx in front passes X-Forwarded-For instead)']];

/**
 * Where portico deliberately answers otherwise than gunicorn, each asserted:
 * - `refused`: a 4xx or a close, and nothing reaches the app;
 * - `refused-after-head`: a 4xx or a close, never a 2xx; the head may have reached the app already,
 *   because the gateway streams a body as it comes (the app then sees the client go away);
 * - `accepted`: reaches the app as `echo` says.
 * A case that also lacks Host (see NO_HOST) is checked with the Host added, so the refusal is for
 * the reason given here.
 */
const DIFFERENCES: Record<string, { ours: 'refused' | 'refused-after-head' | 'accepted'; why: string; echo?: ExpectedRequest }> = {
  'valid/009': { ours: 'refused', why: 'Transfer-Encoding (identity) with Content-Length: refused by Node as by nginx (request smuggling)' },
  'valid/027': { ours: 'refused', why: 'raw bytes over 0x7f in the request target: llhttp refuses them (RFC 3986 has none; clients percent-encode)' },
  'valid/028': { ours: 'refused', why: 'space before the colon (`Content-Length : 3`): RFC 9112 §5.1 says MUST reject; gunicorn only takes it with strip_header_spaces' },
  'valid/031': { ours: 'refused', why: 'unknown method `-BLARGH`: llhttp parses a fixed list of methods' },
  'valid/031compat': { ours: 'refused', why: 'unknown lower-case method: llhttp parses a fixed list of methods (gunicorn needs permit_unconventional_http_method)' },
  'valid/031compat2': { ours: 'refused', why: 'unknown lower-case method: llhttp parses a fixed list of methods (gunicorn needs permit_unconventional_http_method)' },
  'valid/099': {
    ours: 'refused-after-head',
    why: "the body is shorter than its Content-Length: the gateway waits for the rest (408 after --request-timeout); gunicorn's runner hands over what came before EOF",
  },
  'valid/compat_obs_fold': { ours: 'refused', why: 'obsolete line folding: refused by llhttp, as by nginx (gunicorn needs permit_obsolete_folding)' },
  'valid/compat_obs_fold_huge': { ours: 'refused', why: 'obsolete line folding: refused by llhttp, as by nginx (gunicorn needs permit_obsolete_folding)' },
  'valid/rfc9112_target_authority_connect_01': { ours: 'refused', why: 'CONNECT: the gateway is no forward proxy; Node closes the connection' },
  'valid/rfc9112_target_authority_ipv6_01': { ours: 'refused', why: 'CONNECT: the gateway is no forward proxy; Node closes the connection' },
  'valid/rfc9112_target_absolute_01': {
    ours: 'accepted',
    why: 'absolute form: the app gets the origin form and the authority as Host, as nginx passes it (RFC 9112 §3.2.2: the target decides, the Host header is ignored)',
    echo: { method: 'GET', uri: '/foo?q=1', version: [1, 1], headers: [['HOST', 'example.com']], body: '' },
  },
  'valid/rfc9112_target_absolute_https_01': {
    ours: 'accepted',
    why: 'absolute form: the app gets the origin form and the authority as Host, as nginx passes it',
    echo: { method: 'GET', uri: '/foo', version: [1, 1], headers: [['HOST', 'example.com']], body: '' },
  },
  'valid/rfc9112_target_absolute_ipv6_01': {
    ours: 'accepted',
    why: 'absolute form: the app gets the origin form and the authority as Host, as nginx passes it',
    echo: { method: 'GET', uri: '/foo', version: [1, 1], headers: [['HOST', '[::1]:8080']], body: '' },
  },
  'valid/rfc9112_target_absolute_userinfo_01': { ours: 'refused', why: 'userinfo in the target: RFC 9110 §4.2.4 has a recipient treat it as an error (400 PORTICO_ERR_INVALID_HOST)' },
  'invalid/040': {
    ours: 'accepted',
    why: 'names with `_` are dropped before the app, as nginx does (underscores_in_headers off): Transfer_Encoding and Content_Length never reach it, the body is framed by Content-Length',
    echo: { method: 'GET', uri: '/keep/same/as?invalid/040', version: [1, 0], headers: [['CONTENT-LENGTH', '7']], body: Buffer.from('tricked').toString('base64') },
  },
  'invalid/041': {
    ours: 'accepted',
    why: 'a repeated Content-Type is passed on joined, as nginx passes repeated headers; it does not frame anything',
    echo: {
      method: 'GET',
      uri: '/stuff/here?foo=bar',
      version: [1, 1],
      headers: [
        ['HOST', 'localhost'],
        ['CONTENT-TYPE', 'application/json'],
        ['CONTENT-TYPE', 'text/html'],
      ],
      body: '',
    },
  },
  'invalid/019': {
    ours: 'accepted',
    why: 'X-Forwarded-Proto: https with X-Forwarded-Ssl: off: the gateway reads only X-Forwarded-Proto (from --trusted-proxies), so there is no conflict to refuse; both are passed on',
    echo: {
      method: 'GET',
      uri: '/test',
      version: [1, 1],
      headers: [
        ['HOST', ADDED_HOST],
        ['X-FORWARDED-PROTO', 'https'],
        ['X-FORWARDED-SSL', 'off'],
      ],
      body: '',
    },
  },
  'invalid/chunked_07': {
    ours: 'accepted',
    why: 'Transfer_Encoding is dropped before the app, as nginx does (underscores_in_headers off): Transfer-Encoding: chunked alone frames the body',
    echo: {
      method: 'POST',
      uri: '/chunked_ambiguous_header_mapping',
      version: [1, 1],
      headers: [
        ['HOST', ADDED_HOST],
        ['TRANSFER-ENCODING', 'chunked'],
      ],
      body: Buffer.from('hello world').toString('base64'),
    },
  },
  'invalid/rfc9110_trailer_forbidden_host_01': {
    ours: 'accepted',
    why: 'trailers never leave the gateway, so a Host in them changes nothing',
    echo: {
      method: 'POST',
      uri: '/p',
      version: [1, 1],
      headers: [
        ['HOST', 'example.com'],
        ['TRANSFER-ENCODING', 'chunked'],
      ],
      body: Buffer.from('hello').toString('base64'),
    },
  },
  'invalid/chunked_01': { ours: 'refused-after-head', why: 'chunk size `6_0`: found after the head went to the app (streamed body): 400, the app sees an abort' },
  'invalid/chunked_09': { ours: 'refused-after-head', why: 'space after the chunk size: found after the head went to the app (streamed body): 400, the app sees an abort' },
  'invalid/chunked_10': { ours: 'refused-after-head', why: 'space before the chunk size: found after the head went to the app (streamed body): 400, the app sees an abort' },
  'invalid/chunked_11': { ours: 'refused-after-head', why: 'bare LF after the chunk size: found after the head went to the app (streamed body): 400, the app sees an abort' },
  'invalid/chunked_12': { ours: 'refused-after-head', why: 'no chunk size before the extension: found after the head went to the app (streamed body): 400, the app sees an abort' },
  'invalid/chunked_13': { ours: 'refused-after-head', why: 'empty chunk size: found after the head went to the app (streamed body): 400, the app sees an abort' },
  'invalid/chunked_14': { ours: 'refused-after-head', why: 'bare CR in a chunk extension: found after the head went to the app (streamed body): 400, the app sees an abort' },
  'invalid/rfc9110_trailer_forbidden_cl_01': { ours: 'refused-after-head', why: 'the bad trailer is found after the head went to the app (streamed body): 400, the app sees an abort' },
  'invalid/rfc9110_trailer_forbidden_te_01': { ours: 'refused-after-head', why: 'the bad trailer is found after the head went to the app (streamed body): 400, the app sees an abort' },
  'invalid/rfc9112_chunked_missing_final_crlf_01': { ours: 'refused-after-head', why: 'the body never ends: 408 after --request-timeout; the head went to the app (streamed body)' },
  'invalid/rfc9112_chunked_size_minus_sign_01': { ours: 'refused-after-head', why: 'bad chunk size found after the head went to the app (streamed body): 400, the app sees an abort' },
  'invalid/rfc9112_chunked_size_plus_sign_01': { ours: 'refused-after-head', why: 'bad chunk size found after the head went to the app (streamed body): 400, the app sees an abort' },
};

/**
 * One difference for many cases: an HTTP/1.1 request without Host. gunicorn takes it; Node refuses
 * it with 400 (RFC 9112 §3.2 says a server MUST, and nginx does too). Asserted refused, and the
 * same bytes with a Host line added after each request line must then reach the app intact.
 */
const NO_HOST = 'HTTP/1.1 without Host: refused (RFC 9112 §3.2 MUST, as nginx does); re-sent with a Host line';

/** gunicorn settings that are limits the gateway has too: the case runs on a gateway with them. */
function limitFlags(cfg: Record<string, unknown>): string[] {
  const flags: string[] = [];
  if (typeof cfg.limit_request_line === 'number') flags.push('--limit-request-line', String(cfg.limit_request_line));
  if (typeof cfg.limit_request_fields === 'number') flags.push('--limit-request-fields', String(cfg.limit_request_fields));
  // 0 is gunicorn's way of asking for its default (case limit_header_default_01): leave ours as is.
  if (typeof cfg.limit_request_field_size === 'number' && cfg.limit_request_field_size > 0) flags.push('--limit-request-field-size', String(cfg.limit_request_field_size));
  return flags;
}

type Split = 'whole' | 'bytes';

const skipReason = (c: CorpusCase): string | undefined => SKIPPED.find(([re]) => re.test(c.name))?.[1];

describe('gunicorn request corpus through portico gateway', { skip: needPeer(pythonMissing()), timeout: 120_000 }, () => {
  const corpus = loadCorpus();
  const run = corpus.filter((c) => !skipReason(c));
  let worker: Started | undefined;
  const gateways = new Map<string, HttpFront>();
  let hitsFile = '';
  const tmp = makeTmpDir('gunicorn-corpus');

  before(
    async () => {
      const dir = tmp.path;
      hitsFile = join(dir, 'hits');
      writeFileSync(hitsFile, '');
      const socket = join(dir, 'echo.sock');
      worker = startProcess(process.execPath, [porticoBin, 'worker', join(fixturesDir, 'echo-app.mjs'), '--socket', socket, '--no-master', '--disable-logging'], {
        env: { ...process.env, ECHO_HITS_FILE: hitsFile },
      });
      await worker.waitFor(/app .* on \S+/);
      const keys = [...new Set(run.map((c) => JSON.stringify(limitFlags(c.cfg))))];
      // Short timeouts: a case the parser waits on (a body that never comes) ends in a 408 soon.
      await Promise.all(
        keys.map(async (key) => {
          gateways.set(key, await startGateway([`portico://unix:${socket}`], ['--headers-timeout', '2', '--request-timeout', '2', ...(JSON.parse(key) as string[])]));
        }),
      );
    },
    { timeout: 30_000 },
  );

  after(async () => {
    await Promise.all([...gateways.values()].map((g) => g.stop()));
    await worker?.stop();
    tmp.cleanup();
  });

  /**
   * Requests that reached the app, by connection: client port and gateway port (see echo-app.mjs;
   * a client port comes back soon for another destination, so it alone is not enough).
   */
  function hitsByConnection(): Map<string, string[]> {
    const byConnection = new Map<string, string[]>();
    for (const line of readFileSync(hitsFile, 'utf8').split('\n')) {
      if (!line) continue;
      const [client, server, method, target] = JSON.parse(line) as [string, string, string, string];
      const key = `${client}/${server}`;
      byConnection.set(key, [...(byConnection.get(key) ?? []), `${method} ${target}`]);
    }
    return byConnection;
  }

  /**
   * How many requests of each connection must have reached the app ('any': some may have). Checked
   * once every case has run: a head the gateway forwarded before the body failed reaches the app
   * after the client got its 400.
   */
  let hitChecks: Array<{ what: string; connection: string; hits: number | 'any' }> = [];

  async function expectRefused(what: string, raw: Buffer, split: Split, port: number, headMayPass = false): Promise<string[]> {
    const ex = await sendRaw(port, raw, { split, expect: 1 });
    hitChecks.push({ what, connection: `${ex.localPort}/${port}`, hits: headMayPass ? 'any' : 0 });
    if (ex.responses.some((r) => r.status < 400)) return [`${what}: refusal expected, got ${ex.responses.map((r) => r.status).join(', ')}`];
    if (ex.timedOut) return [`${what}: neither answered nor closed`];
    return [];
  }

  async function expectEchoed(what: string, raw: Buffer, requests: ExpectedRequest[], split: Split, port: number): Promise<string[]> {
    const ex = await sendRaw(port, raw, { split, expect: requests.length });
    hitChecks.push({ what, connection: `${ex.localPort}/${port}`, hits: requests.length });
    if (ex.responses.length !== requests.length || ex.timedOut) {
      return [`${what}: ${requests.length} responses expected, got ${ex.responses.map((r) => r.status).join(', ') || 'none'}${ex.timedOut ? ' and no close' : ex.closed ? ' and a close' : ''}`];
    }
    const problems: string[] = [];
    requests.forEach((want, i) => {
      const res = ex.responses[i]!;
      if (res.status !== 200) return problems.push(`${what} #${i}: status ${res.status} ${res.body.toString().slice(0, 80)}`);
      const echo = JSON.parse(res.body.toString('utf8')) as Echo;
      const got = { method: echo.method, uri: echo.uri, protocol: echo.protocol, vars: seenVars(echo), body: echo.body };
      const exp = { method: want.method, uri: want.uri, protocol: `HTTP/${want.version.join('.')}`, vars: expectedVars(want.headers), body: want.body };
      try {
        assert.deepEqual(got, exp);
      } catch (err) {
        problems.push(`${what} #${i}: ${(err as Error).message}`);
      }
      return undefined;
    });
    return problems;
  }

  /** The bytes as sent, where a request before the first Host-less one may be answered. */
  async function expectHostRefusal(c: CorpusCase, split: Split, port: number): Promise<string[]> {
    const what = `${c.name} (${split}, no Host)`;
    const first = c.requests!.findIndex((r) => r.version.join('.') === '1.1' && !r.headers.some(([n]) => n.toUpperCase() === 'HOST'));
    const ex = await sendRaw(port, c.raw, { split, expect: first + 1 });
    const answered = ex.responses.filter((r) => r.status === 200).length;
    hitChecks.push({ what, connection: `${ex.localPort}/${port}`, hits: answered });
    if (ex.responses.slice(first).some((r) => r.status < 400)) return [`${what}: request #${first} has no Host, got ${ex.responses.map((r) => r.status).join(', ')}`];
    return [];
  }

  async function check(c: CorpusCase, split: Split): Promise<string[]> {
    const port = gateways.get(JSON.stringify(limitFlags(c.cfg)))!.port;
    const what = `${c.name} (${split})`;
    const diff = DIFFERENCES[c.name];
    if (c.kind === 'invalid' && diff?.ours !== 'accepted') {
      // Without a Host an HTTP/1.1 case is refused for that alone: with one, for its own defect.
      const hosted = invalidWithHost(c.raw);
      const afterHead = diff?.ours === 'refused-after-head';
      const problems = await expectRefused(what, c.raw, split, port, afterHead);
      return hosted ? [...problems, ...(await expectRefused(`${what} +Host`, hosted, split, port, afterHead))] : problems;
    }
    if (diff?.ours === 'accepted') return expectEchoed(what, (c.kind === 'invalid' && invalidWithHost(c.raw)) || c.raw, [diff.echo!], split, port);
    if (diff) return expectRefused(what, (lacksHost(c) && withHost(c)?.raw) || c.raw, split, port, diff.ours === 'refused-after-head');
    if (!lacksHost(c)) return expectEchoed(what, c.raw, c.requests!, split, port);
    const fixed = withHost(c);
    if (!fixed) return [`${c.name}: no request line found to add a Host after`];
    return [...(await expectHostRefusal(c, split, port)), ...(await expectEchoed(`${what} +Host`, fixed.raw, fixed.requests, split, port))];
  }

  /** The app has seen every request sent before this one: a last request, answered, marks the end. */
  async function settleHits(port: number): Promise<string[]> {
    const ex = await sendRaw(port, Buffer.from('GET /corpus-done HTTP/1.1\r\nHost: x\r\n\r\n'), { split: 'whole', expect: 1 });
    assert.equal(ex.responses[0]?.status, 200);
    const byConnection = hitsByConnection();
    // Its client port may be one a refused case had (the server closed that one first, so the
    // port was free again at once): its own hit must not count against that case.
    const mine = `${ex.localPort}/${port}`;
    byConnection.set(
      mine,
      (byConnection.get(mine) ?? []).filter((h) => h !== 'GET /corpus-done'),
    );
    // Two connections of this split on one port cannot be told apart: neither count is checked.
    const uses = new Map<string, number>();
    for (const { connection } of hitChecks) uses.set(connection, (uses.get(connection) ?? 0) + 1);
    const problems = hitChecks
      .filter(({ connection }) => uses.get(connection) === 1)
      .flatMap(({ what, connection, hits }) => {
        const got = byConnection.get(connection) ?? [];
        return hits === 'any' || got.length === hits ? [] : [`${what}: ${got.length} requests reached the app (${got.join(', ')}), ${hits} expected`];
      });
    hitChecks = [];
    return problems;
  }

  for (const split of ['whole', 'bytes'] as const) {
    test(`every case, sent ${split === 'whole' ? 'in one write' : 'byte by byte'}`, async (t) => {
      const problems: string[] = [];
      // Hits are told apart by client port, and the kernel hands a port out again once its
      // connection is gone (loopback reuses even TIME_WAIT ones): the other split's hits must not
      // meet a connection of this one on the same port.
      writeFileSync(hitsFile, '');
      // One connection at a time, to keep the byte-by-byte run light on a small machine.
      for (const c of run) problems.push(...(await check(c, split)));
      problems.push(...(await settleHits(gateways.values().next().value!.port)));
      t.diagnostic(`${run.length} cases, ${run.filter(lacksHost).length} of them without Host (${NO_HOST})`);
      assert.deepEqual(problems, []);
    });
  }

  test('the tables name real cases, and skipped cases are the PROXY protocol ones only', (t) => {
    const names = new Set(corpus.map((c) => c.name));
    for (const name of Object.keys(DIFFERENCES)) assert.ok(names.has(name), `DIFFERENCES names ${name}, not in the corpus`);
    const skipped = corpus.filter((c) => skipReason(c));
    assert.ok(skipped.length > 0 && skipped.every((c) => /\/pp_/.test(c.name)));
    t.diagnostic(`skipped: ${skipped.map((c) => c.name).join(', ')} (${SKIPPED[0]![1]})`);
  });
});
