// A response the lean front writes straight to the client's socket (gateway/front/lean-response.ts):
// byte for byte what node:http's ServerResponse writes for the same calls (status line, Date,
// Connection, Keep-Alive, chunked for HTTP/1.1, close-delimited for HTTP/1.0, no body for HEAD,
// 204 and 304), the same refusals of bad names, values and statuses, and the connection told
// whether it may stay open. Each case runs on a real loopback socket against a real node:http.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer, type OutgoingHttpHeaders } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { LeanResponse, type ResponseOwner } from '../../../../gateway/front/lean-response.js';
import { loopbackPair } from '../../../support/unit-peers.js';

/** What a case does with a response: the calls the forwarders make. */
interface Writes {
  writeHead(status: number, reason: string, headers?: OutgoingHttpHeaders | string[]): unknown;
  writeHead(status: number, headers?: OutgoingHttpHeaders | string[]): unknown;
  write(chunk: Buffer): boolean;
  end(chunk?: string | Buffer): unknown;
}

/** Every socket and server a test opens, closed after it whatever it asserted, so a failure cannot hang the run. */
const open: Array<Socket | Server> = [];
afterEach(() => {
  for (const handle of open.splice(0)) {
    if ('destroy' in handle) handle.destroy();
    else handle.close();
  }
});

/** node:http's keep-alive line at its default keepAliveTimeout (5 s). */
const KEEP_ALIVE_LINE = 'Keep-Alive: timeout=5\r\n';

/**
 * A chunked body as its content and its end (`[chunked: ...]`, `[unterminated]`): where the chunks
 * break is node:http's choice, and differs between Node versions (Node 24 joins a tick's writes).
 */
function dechunk(raw: string): string {
  const split = raw.indexOf('\r\n\r\n') + 4;
  if (split < 4 || !/\r\nTransfer-Encoding: chunked\r\n/i.test(raw.slice(0, split))) return raw;
  let body = raw.slice(split);
  let content = '';
  for (;;) {
    const m = /^([0-9a-f]+)\r\n/i.exec(body);
    if (m === null) return `${raw.slice(0, split)}${content}[unterminated: ${JSON.stringify(body)}]`;
    const size = parseInt(m[1]!, 16);
    if (size === 0) return `${raw.slice(0, split)}[chunked: ${content}]${body.slice(m[0].length)}`;
    content += body.substr(m[0].length, size);
    body = body.slice(m[0].length + size + 2);
  }
}

/** Sends `request` and reads until the server closes; the Date value is blanked (it is the time). */
async function exchange(server: Server, request: string): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
  open.push(server, client);
  client.end(request);
  const parts: Buffer[] = [];
  client.on('data', (c: Buffer) => parts.push(c));
  await once(client, 'close');
  server.close();
  return dechunk(
    Buffer.concat(parts)
      .toString('latin1')
      .replace(/^Date: [^\r]+\r\n/m, 'Date: -\r\n'),
  );
}

/** What node:http writes for `calls`; the connection is ended after the response. */
function viaNodeHttp(request: string, calls: (res: Writes) => void): Promise<string> {
  const server = createHttpServer((req, res) => {
    res.on('finish', () => setImmediate(() => req.socket.end()));
    calls(res);
  });
  return exchange(server, request);
}

/** A connection as a LeanResponse sees it, recording what the response told it. */
class Owner implements ResponseOwner {
  readonly keepAliveLine = KEEP_ALIVE_LINE;
  closing = false;
  kept: boolean | null = null;
  socket!: Socket;
  mayKeepAlive(): boolean {
    return !this.closing;
  }
  responseDone(_res: LeanResponse, keep: boolean): void {
    this.kept = keep;
    setImmediate(() => this.socket.end());
  }
}

/** What a LeanResponse writes for `calls`, for a request of that method and version. */
async function viaLean(request: string, calls: (res: Writes) => void, owner = new Owner()): Promise<{ bytes: string; kept: boolean | null }> {
  const [method, , version] = request.split('\r\n')[0]!.split(' ') as [string, string, string];
  const http10 = version === 'HTTP/1.0';
  const keepAlive = http10 ? /connection: keep-alive/i.test(request) : !/connection: close/i.test(request);
  const server = createServer((socket) => {
    owner.socket = socket;
    // The request is read, as the lean connection would, before the answer.
    socket.once('data', () => calls(new LeanResponse(owner, method === 'HEAD', http10, keepAlive)));
  });
  const bytes = await exchange(server, request);
  return { bytes, kept: owner.kept };
}

const GET11 = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
const cases: Array<{ name: string; request: string; calls: (res: Writes) => void; kept: boolean }> = [
  {
    name: 'no Content-Length on HTTP/1.1: chunked, kept alive',
    request: GET11,
    kept: true,
    calls: (res) => {
      res.writeHead(200, ['Content-Type', 'text/plain', 'X-Two', 'a', 'X-Two', 'b']);
      res.write(Buffer.from('hello '));
      res.end(Buffer.from('world'));
    },
  },
  {
    name: 'a Content-Length: the body as it is',
    request: GET11,
    kept: true,
    calls: (res) => {
      res.writeHead(201, 'Made Here', { 'content-length': '5', 'set-cookie': ['a=1', 'b=2'] });
      res.end('hello');
    },
  },
  {
    name: 'no body at all: chunked, its last chunk only',
    request: GET11,
    kept: true,
    calls: (res) => {
      res.writeHead(200);
      res.end();
    },
  },
  {
    name: "the app's own Connection: close ends the connection",
    request: GET11,
    kept: false,
    calls: (res) => {
      res.writeHead(200, ['Connection', 'close', 'Content-Length', '2']);
      res.end('ok');
    },
  },
  {
    name: "the client's Connection: close",
    request: 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    kept: false,
    calls: (res) => {
      res.writeHead(200, ['Content-Length', '2']);
      res.end('ok');
    },
  },
  {
    name: "the app's own Date is kept",
    request: GET11,
    kept: true,
    calls: (res) => {
      res.writeHead(200, ['Date', 'Thu, 01 Jan 1970 00:00:00 GMT', 'Content-Length', '0']);
      res.end();
    },
  },
  {
    name: "the app's own Transfer-Encoding: chunked is framed as chunked",
    request: GET11,
    kept: true,
    calls: (res) => {
      res.writeHead(200, ['Transfer-Encoding', 'chunked']);
      res.write(Buffer.from('abc'));
      res.end();
    },
  },
  {
    name: 'HTTP/1.0 without a length: close-delimited',
    request: 'GET / HTTP/1.0\r\n\r\n',
    kept: false,
    calls: (res) => {
      res.writeHead(200, ['Content-Type', 'text/plain']);
      res.write(Buffer.from('one'));
      res.end(Buffer.from('two'));
    },
  },
  {
    name: 'HTTP/1.0 keep-alive with a length: kept alive',
    request: 'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
    kept: true,
    calls: (res) => {
      res.writeHead(200, ['Content-Length', '3']);
      res.end('abc');
    },
  },
  {
    name: 'HTTP/1.0 keep-alive without a length: closed, as only the close can end the body',
    request: 'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
    kept: false,
    calls: (res) => {
      res.writeHead(200);
      res.end('abc');
    },
  },
  {
    name: 'HEAD: the head only, whatever is written',
    request: 'HEAD / HTTP/1.1\r\nHost: x\r\n\r\n',
    kept: true,
    calls: (res) => {
      res.writeHead(200, ['Content-Type', 'text/plain']);
      res.write(Buffer.from('not sent'));
      res.end();
    },
  },
  {
    name: '204: no body and no chunked framing',
    request: GET11,
    kept: true,
    calls: (res) => {
      res.writeHead(204, ['X-A', '1']);
      res.end('dropped');
    },
  },
  {
    name: '304: no body',
    request: GET11,
    kept: true,
    calls: (res) => {
      res.writeHead(304, ['ETag', '"x"']);
      res.end();
    },
  },
  {
    name: 'write() before writeHead(): a 200 head first',
    request: GET11,
    kept: true,
    calls: (res) => {
      res.write(Buffer.from('x'));
      res.end();
    },
  },
];

describe('LeanResponse frames as node:http does', { timeout: 60_000 }, () => {
  for (const c of cases) {
    it(c.name, async () => {
      const expected = await viaNodeHttp(c.request, c.calls);
      const lean = await viaLean(c.request, c.calls);
      assert.equal(lean.bytes, expected);
      assert.equal(lean.kept, c.kept, 'what the connection is told');
    });
  }

  it('while the server closes, a kept-alive response says Connection: close', async () => {
    const owner = new Owner();
    owner.closing = true;
    const lean = await viaLean(
      GET11,
      (res) => {
        res.writeHead(200, ['Content-Length', '2']);
        res.end('ok');
      },
      owner,
    );
    assert.match(lean.bytes, /\r\nConnection: close\r\n/);
    assert.equal(lean.kept, false);
  });
});

describe('LeanResponse refusals and states', { timeout: 60_000 }, () => {
  /** A response on a connected socket, with what it was told and what the peer read. */
  async function connected(isHead = false): Promise<{ res: LeanResponse; owner: Owner; read: () => Promise<string>; done: () => void }> {
    const { client, server: socket } = await loopbackPair();
    open.push(client, socket);
    const owner = new Owner();
    owner.socket = socket;
    const parts: Buffer[] = [];
    client.on('data', (c: Buffer) => parts.push(c));
    const closed = once(client, 'close');
    return {
      res: new LeanResponse(owner, isHead, false, true),
      owner,
      read: async () => {
        await closed;
        return Buffer.concat(parts).toString('latin1');
      },
      done: () => socket.end(),
    };
  }

  it('refuses what node:http refuses: a bad name, a value with CR or LF, a status out of range, a control character in the reason', async () => {
    const { res, done, read } = await connected();
    assert.throws(() => res.writeHead(200, ['Bad Name', 'x']), { code: 'ERR_INVALID_HTTP_TOKEN' });
    assert.throws(() => res.writeHead(200, ['X-A', 'a\r\nX-Injected: 1']), { code: 'ERR_INVALID_CHAR' });
    assert.throws(() => res.writeHead(99), RangeError);
    assert.throws(() => res.writeHead(1000), RangeError);
    assert.throws(() => res.writeHead(200, 'OK\r\nX: 1'), TypeError);
    assert.throws(() => res.writeHead(200, ['X-A']), TypeError, 'headers must come in pairs');
    assert.equal(res.headersSent, false, 'a refused head leaves the response unsent');
    res.writeHead(200, ['Content-Length', '0']);
    assert.throws(() => res.writeHead(200), /sent already/);
    res.end();
    done();
    assert.doesNotMatch(await read(), /Injected/);
  });

  it('after end(): write() returns false and end() again changes nothing; the connection is told once', async () => {
    const { res, owner, read } = await connected();
    let told = 0;
    const responseDone = owner.responseDone.bind(owner);
    owner.responseDone = (r, keep) => {
      told++;
      responseDone(r, keep);
    };
    res.writeHead(200, ['Content-Length', '2']);
    res.end('ok');
    assert.equal(res.writableFinished, true);
    assert.equal(res.write(Buffer.from('more')), false);
    res.end('again');
    assert.equal(told, 1);
    assert.match(await read(), /\r\n\r\nok$/);
  });

  it('write() returns false once the socket holds more than its high-water mark', async () => {
    const { res, done, read } = await connected();
    res.writeHead(200, ['Content-Length', String(1 << 20)]);
    assert.equal(res.write(Buffer.alloc(1 << 20, 0x61)), false);
    res.end();
    done();
    assert.equal((await read()).split('\r\n\r\n')[1]!.length, 1 << 20, 'and it is all written');
  });

  it("destroy() closes the socket; the client gone and the end say 'close' (and 'finish') as node:http does", async () => {
    const a = await connected();
    a.res.destroy();
    assert.equal(a.res.destroyed, true);
    assert.equal(await a.read(), '');
    assert.equal(a.res.write(Buffer.from('x')), false, 'nothing is written after destroy');
    const events: string[] = [];
    const b = await connected();
    for (const e of ['finish', 'close']) b.res.on(e, () => events.push(e));
    b.res.clientGone();
    assert.deepEqual(events, ['close']);
    assert.equal(b.res.destroyed, true);
    events.length = 0;
    b.res.finished();
    assert.deepEqual(events, ['finish', 'close']);
    b.done();
  });
});
