// What an app may not answer, on each link and for each kind (worker/exchange/exchange.ts, worker/exchange/response-head.ts,
// worker/adapters/node-app.ts): a status that cannot end a response is a 500 PORTICO_ERR_INVALID_STATUS;
// interim responses are dropped and the real answer follows; a body not as long as its own
// Content-Length is a 500 PORTICO_ERR_BODY_LENGTH when nothing was sent yet, and otherwise never
// passes its Content-Length: the forged second response in the extra bytes reaches no client.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encodePacketHead } from '../../../protocol/uwsgi/packet-encoder.js';
import { buildRequestVars } from '../../../protocol/uwsgi/request-vars.js';
import { outputLine, type Started } from '../../../support/child-process.js';
import { fixturesDir } from '../../../support/paths.js';
import { startServe, type HttpFront } from '../../support/portico-gateway.js';
import { startWorker } from '../../../support/portico-worker.js';
import { sendRaw } from '../../support/raw-exchange.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

/** `absent`: a header the response must not have. */
type Expect = { status: number; body?: string; code?: string; absent?: string };
const KINDS: Record<string, Record<string, Expect>> = {
  fetch: {
    '/length-lie': { status: 500, code: 'PORTICO_ERR_BODY_LENGTH' },
    '/stream-overrun': { status: 200, body: 'ok', code: 'PORTICO_ERR_BODY_LENGTH' },
    '/empty-204': { status: 204, body: '', absent: 'content-length' },
  },
  node: {
    '/status-103': { status: 500, code: 'PORTICO_ERR_INVALID_STATUS' },
    '/status-99': { status: 500, code: 'PORTICO_ERR_INVALID_STATUS' },
    '/continue': { status: 200, body: 'after the interim ones' },
    '/length-lie': { status: 500, code: 'PORTICO_ERR_BODY_LENGTH' },
    '/stream-overrun': { status: 200, body: 'ok' },
  },
  wsgi: {
    '/status-101': { status: 500, code: 'PORTICO_ERR_INVALID_STATUS' },
    '/status-099': { status: 500, code: 'PORTICO_ERR_INVALID_STATUS' },
    '/status-600': { status: 500, code: 'PORTICO_ERR_INVALID_STATUS' },
  },
};

const app = (kind: string): string => join(fixturesDir, 'odd-responses', `${kind}.mjs`);

/** Every byte a worker writes back for one uwsgi packet, up to its close: what nginx would read. */
async function uwsgiBytes(socket: string, path: string): Promise<string> {
  const vars = buildRequestVars({ method: 'GET', uri: path, rawHeaders: ['Host', 'test'], protocol: 'HTTP/1.1', scheme: 'http', remoteAddr: '127.0.0.1', remotePort: 1 });
  const s = connect(socket);
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  s.on('error', () => {});
  s.write(encodePacketHead({ vars }));
  await once(s, 'close');
  return Buffer.concat(chunks).toString('latin1');
}

function statusOf(raw: string): number {
  return Number(/^HTTP\/1\.1 (\d{3}) /.exec(raw)?.[1] ?? 0);
}

describe('uwsgi link: what an app may not answer', { timeout: 60_000 }, () => {
  let tmp: ReturnType<typeof makeTmpDir> | undefined;
  const workers = new Map<string, Started>();

  before(async () => {
    tmp = makeTmpDir('odd-uwsgi');
    for (const kind of Object.keys(KINDS)) workers.set(kind, await startWorker(app(kind), join(tmp.path, `${kind}.sock`)));
  });
  after(async () => {
    await Promise.all([...workers.values()].map((w) => w.stop()));
    tmp?.cleanup();
  });

  for (const [kind, cases] of Object.entries(KINDS)) {
    for (const [path, want] of Object.entries(cases)) {
      test(`${kind} ${path}: ${want.status}${want.code ? ` ${want.code}` : ''}`, async () => {
        const raw = await uwsgiBytes(join(tmp!.path, `${kind}.sock`), path);
        assert.equal(statusOf(raw), want.status, raw);
        // One response on the wire: no interim head before it, nothing after its body.
        assert.equal(raw.match(/HTTP\/1\.1 /g)?.length, 1, raw);
        assert.doesNotMatch(raw, /attacker|forged/);
        if (want.body !== undefined) assert.equal(raw.slice(raw.indexOf('\r\n\r\n') + 4), want.body);
        if (want.absent) assert.doesNotMatch(raw.slice(0, raw.indexOf('\r\n\r\n')), new RegExp(`\r\n${want.absent}:`, 'i'));
        if (want.code) await outputLine(workers.get(kind)!, new RegExp(`${want.code}: GET ${path}`));
      });
    }
  }
});

describe('portico serve (native link): what an app may not answer', { timeout: 60_000 }, () => {
  const fronts = new Map<string, HttpFront>();

  before(async () => {
    for (const kind of Object.keys(KINDS)) fronts.set(kind, await startServe(app(kind)));
  });
  after(() => Promise.all([...fronts.values()].map((f) => f.stop())));

  for (const [kind, cases] of Object.entries(KINDS)) {
    for (const [path, want] of Object.entries(cases)) {
      test(`${kind} ${path}: ${want.status}, and the kept-alive connection carries nothing forged`, async () => {
        const front = fronts.get(kind)!;
        // Pipelined: a forged response in the first answer's extra bytes would be read as the second's.
        const ex = await sendRaw(front.port, Buffer.from(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\nGET /fine HTTP/1.1\r\nHost: x\r\n\r\n`), { split: 'whole', expect: 2 });
        const first = ex.responses[0]!;
        assert.equal(first.status, want.status);
        if (want.body !== undefined) assert.equal(first.body.toString(), want.body);
        if (want.absent) assert.ok(!first.headers.some(([n]) => n.toLowerCase() === want.absent), `${want.absent} sent`);
        for (const r of ex.responses) {
          assert.doesNotMatch(r.body.toString('latin1'), /attacker|forged/);
          assert.ok(!r.headers.some(([n]) => n.toLowerCase() === 'set-cookie'));
        }
        assert.doesNotMatch(ex.rest.toString('latin1'), /attacker|forged/);
        // The second answer, when the connection stayed up for it, is its own.
        if (ex.responses[1]) assert.equal(ex.responses[1].body.toString(), 'fine');
        if (want.code) await outputLine(front.proc, new RegExp(`${want.code}: GET ${path}`));
      });
    }
  }
});
