// One client connection on the lean front (gateway/front/lean-connection.ts), driven over a real
// loopback socket with a small host in place of the front: heads parsed in any number of reads,
// pipelined requests answered one at a time and in order, bodies (Content-Length and chunked)
// passed to the request, 100-continue, a head the host does not take handed to node:http with
// every byte from its first on, keep-alive and close, and the client's backpressure and departure.
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import type { Socket } from 'node:net';
import { after, afterEach, describe, it } from 'node:test';
import { isPorticoError, type PorticoError } from '../../../../common/errors.js';
import { Logger } from '../../../../common/logger.js';
import { ConnectionGuard } from '../../../../gateway/front/connection-guard.js';
import { LeanConnection, type LeanHost, type ParsedHead } from '../../../../gateway/front/lean-connection.js';
import { LeanBodyRequest, LeanRequest, type LeanIncoming } from '../../../../gateway/front/lean-request.js';
import type { LeanResponse } from '../../../../gateway/front/lean-response.js';
import { loopbackPair } from '../../../support/unit-peers.js';

const guards: Array<ConnectionGuard<LeanConnection>> = [];
after(() => {
  for (const g of guards) g.stop();
});
/** Both ends of every connection a test opens, closed after it whatever it asserted, so a failure cannot hang the run. */
const sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
});

/** A request the host was asked to answer. */
interface Asked {
  req: LeanIncoming;
  res: LeanResponse;
}

/** Answers with the request's target as the body. */
function answerWithUrl({ req, res }: Asked): void {
  res.writeHead(200, ['Content-Length', String(req.url.length)]);
  res.end(req.url);
}

/**
 * The front as a connection sees it. accept() takes every head but those whose target is in
 * `decline`; answer() hands each request to `onRequest` (and emits 'request'), or declines those
 * in `refuse`; handToNode() records the bytes it is given and closes the connection.
 */
class Host extends EventEmitter implements LeanHost {
  readonly maxHeaderSize = 16 * 1024;
  readonly keepAliveLine = 'Keep-Alive: timeout=5\r\n';
  closing = false;
  draining = false;
  readonly requestTimeoutMs = 60_000;
  readonly bodyLimit: number;
  readonly guard: ConnectionGuard<LeanConnection>;
  readonly heads: ParsedHead[] = [];
  readonly decline = new Set<string>();
  readonly refuse = new Set<string>();
  readonly handedOff: string[] = [];
  readonly failures: PorticoError[] = [];
  readonly accessLines: string[] = [];
  forgotten = 0;
  onRequest: (asked: Asked) => void = answerWithUrl;

  constructor(bodyLimit = 1 << 20) {
    super();
    this.bodyLimit = bodyLimit;
    const limits = {
      requestLine: 8190,
      fields: 100,
      fieldSize: 8190,
      headersTimeoutMs: 60_000,
      requestTimeoutMs: 60_000,
      keepAliveTimeoutMs: 60_000,
      maxConnections: 100,
      bodyLimit,
    };
    this.guard = new ConnectionGuard<LeanConnection>(limits, new Logger({ disableRequests: true }), (conn) => conn.abandon());
    guards.push(this.guard);
  }

  accept(socket: Socket, head: ParsedHead): LeanIncoming | null {
    this.heads.push(head);
    if (this.decline.has(head.url)) return null;
    const header = (name: string): string | undefined => {
      for (let i = 0; i < head.rawHeaders.length; i += 2) if (head.rawHeaders[i]!.toLowerCase() === name) return head.rawHeaders[i + 1];
      return undefined;
    };
    const length = Number(header('content-length') ?? 0);
    const chunked = header('transfer-encoding') !== undefined;
    if (!chunked && length === 0) return new LeanRequest(socket, head.method, head.url, head.rawHeaders, head.versionMajor, head.versionMinor);
    return new LeanBodyRequest(socket, head.method, head.url, head.rawHeaders, head.versionMajor, head.versionMinor, chunked ? null : length, header('expect') !== undefined);
  }

  answer(req: LeanIncoming, res: LeanResponse): boolean {
    if (this.refuse.has(req.url)) return false;
    this.onRequest({ req, res });
    this.emit('request', { req, res });
    return true;
  }

  bodyTimedOut(socket: Socket): void {
    socket.destroy();
  }

  bodyFailed(socket: Socket, _res: LeanResponse | null, _req: LeanBodyRequest, err: PorticoError): void {
    this.failures.push(err);
    socket.destroy();
  }

  handToNode(socket: Socket, unparsed: Buffer | null): void {
    this.handedOff.push(unparsed === null ? '' : unparsed.toString('latin1'));
    socket.on('error', () => {});
    socket.end('HANDED TO NODE');
  }

  forget(): void {
    this.forgotten++;
  }

  noteAccess(req: LeanIncoming, res: LeanResponse): void {
    this.accessLines.push(`${req.method} ${req.url} ${res.statusCode}`);
  }
}

/** The client's side: what it has read so far, and a wait for a piece of text in it. */
class Client {
  readonly socket: Socket;
  text = '';
  ended = false;
  private readonly waiters: Array<{ text: string; resolve: () => void }> = [];

  constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.text += chunk;
      this.check();
    });
    socket.on('close', () => {
      this.ended = true;
      this.check();
    });
  }

  /** Resolves once `text` has been read; rejects if the connection closes first. */
  until(text: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ text, resolve: () => (this.text.includes(text) ? resolve() : reject(new Error(`closed before ${JSON.stringify(text)}; read ${JSON.stringify(this.text)}`))) });
      this.check();
    });
  }

  closed(): Promise<void> {
    return this.ended ? Promise.resolve() : once(this.socket, 'close').then(() => {});
  }

  private check(): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (this.text.includes(w.text) || this.ended) {
        this.waiters.splice(i, 1);
        w.resolve();
      }
    }
  }
}

/** A lean connection on the server side of a loopback connection, with its client. */
async function connection(host = new Host()): Promise<{ host: Host; conn: LeanConnection; server: Socket; client: Client }> {
  const { client: clientSocket, server } = await loopbackPair();
  sockets.push(clientSocket, server);
  const conn = new LeanConnection(server, host);
  host.guard.add(conn);
  return { host, conn, server, client: new Client(clientSocket) };
}

/** The bodies of the responses read so far, in order (each answered with a Content-Length). */
function bodies(text: string): string[] {
  const out: string[] = [];
  const re = /Content-Length: (\d+)\r\n(?:[^\r]*\r\n)*?\r\n/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    out.push(text.substr(re.lastIndex, Number(m[1])));
  }
  return out;
}

const get = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;

describe('LeanConnection: heads', { timeout: 60_000 }, () => {
  it('a head arriving a byte at a time is parsed once whole, as in one read', async () => {
    const { host, server, client } = await connection();
    const fields = Array.from({ length: 40 }, (_, i) => `X-F${i}: v${i}\r\n`).join('');
    const request = `GET /pieces?q=1 HTTP/1.1\r\nHost: x\r\n${fields}\r\n`;
    // Each byte as its own read, so the parser keeps its place across 89 reads (node:http's parser
    // passes the first 32 fields on before the head is whole).
    for (const byte of Buffer.from(request)) server.emit('data', Buffer.from([byte]));
    await client.until('/pieces?q=1');
    assert.equal(host.heads.length, 1);
    const head = host.heads[0]!;
    assert.equal(head.url, '/pieces?q=1');
    assert.equal(head.rawHeaders.length, 82);
    assert.deepEqual(head.rawHeaders.slice(0, 4), ['Host', 'x', 'X-F0', 'v0']);
    assert.deepEqual(head.rawHeaders.slice(-2), ['X-F39', 'v39']);
    client.socket.destroy();
  });

  it('pipelined requests are answered in order, the next parsed only once the last response is complete', async () => {
    const { host, client } = await connection();
    let held: Asked | null = null;
    host.onRequest = (asked) => {
      if (asked.req.url === '/first') held = asked;
      else answerWithUrl(asked);
    };
    client.socket.write(get('/first') + get('/second') + get('/third'));
    await once(host, 'request');
    assert.deepEqual(
      host.heads.map((h) => h.url),
      ['/first'],
      'the others wait while /first is answered',
    );
    answerWithUrl(held!);
    await client.until('/third');
    assert.deepEqual(bodies(client.text), ['/first', '/second', '/third']);
    assert.deepEqual(host.accessLines, ['GET /first 200', 'GET /second 200', 'GET /third 200']);
    assert.match(client.text, /Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n/);
    client.socket.destroy();
  });

  it('a head the host does not take goes to node:http with every byte from its first on, pipelined ones too', async () => {
    const { host, server, client } = await connection();
    host.decline.add('/node');
    server.emit('data', Buffer.from(get('/lean') + get('/node') + get('/after')));
    await client.closed();
    assert.deepEqual(host.handedOff, [get('/node') + get('/after')]);
    assert.deepEqual(
      host.heads.map((h) => h.url),
      ['/lean', '/node'],
      'nothing after it is parsed here',
    );
    assert.match(client.text, /\/leanHANDED TO NODE$/);
    assert.equal(host.forgotten, 1, 'the front forgets it');
  });

  it('a head that came in pieces and is not taken goes to node:http whole', async () => {
    const { host, server, client } = await connection();
    host.decline.add('/node');
    const request = get('/node', 'X-A: 1\r\n');
    for (const piece of [request.slice(0, 7), request.slice(7, 20), request.slice(20)]) server.emit('data', Buffer.from(piece));
    await client.closed();
    assert.deepEqual(host.handedOff, [request]);
  });

  it('a request the host declines to answer goes to node:http unanswered', async () => {
    const { host, server, client } = await connection();
    host.refuse.add('/static-miss');
    server.emit('data', Buffer.from(get('/static-miss')));
    await client.closed();
    assert.deepEqual(host.handedOff, [get('/static-miss')]);
    assert.equal(client.text, 'HANDED TO NODE');
  });

  it('bytes that are not HTTP go to node:http as they came, for its 400', async () => {
    const { host, server, client } = await connection();
    server.emit('data', Buffer.from('GET / HTTP/1.1\r\nHost x\r\n\r\n'));
    await client.closed();
    assert.deepEqual(host.handedOff, ['GET / HTTP/1.1\r\nHost x\r\n\r\n']);
  });
});

describe('LeanConnection: bodies', { timeout: 60_000 }, () => {
  /** Answers with the body the request carried, once it has all come. */
  function echoBody({ req, res }: Asked): void {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const body = Buffer.concat(parts).toString('latin1');
      res.writeHead(200, ['Content-Length', String(body.length)]);
      res.end(body);
    });
  }

  it('a Content-Length body goes to its request, and the request after it is parsed', async () => {
    const { host, client } = await connection();
    host.onRequest = (asked) => (asked.req.method === 'POST' ? echoBody(asked) : answerWithUrl(asked));
    client.socket.write(`POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world${get('/next')}`);
    await client.until('/next');
    assert.deepEqual(bodies(client.text), ['hello world', '/next']);
    client.socket.destroy();
  });

  it('a body its reader does not take pauses the socket; reading resumes it', async () => {
    const { host, server, client } = await connection();
    let req: LeanBodyRequest | null = null;
    host.onRequest = (asked) => {
      req = asked.req as LeanBodyRequest;
    };
    const body = Buffer.alloc(256 * 1024, 0x62);
    server.emit('data', Buffer.concat([Buffer.from(`POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length * 2}\r\n\r\n`), body]));
    assert.equal(server.isPaused(), true, 'the reader is behind: no more is read');
    assert.equal(req!.readableLength, body.length);
    req!.read();
    assert.equal(server.isPaused(), false, 'it asked for more: reading again');
    client.socket.destroy();
  });

  it('a chunked body is decoded', async () => {
    const { host, client } = await connection();
    host.onRequest = echoBody;
    client.socket.write('POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n');
    await client.until('hello world');
    assert.deepEqual(bodies(client.text), ['hello world']);
    client.socket.destroy();
  });

  it('a chunked body that breaks the grammar fails with its code, and the connection closes', async () => {
    const { host, client } = await connection();
    host.onRequest = () => {};
    client.socket.write('POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX');
    await client.closed();
    assert.equal(host.failures.length, 1);
    assert.ok(isPorticoError(host.failures[0]) && host.failures[0].code.startsWith('PORTICO_ERR_'), String(host.failures[0]));
  });

  it('a chunked body past --body-limit fails with PORTICO_ERR_BODY_TOO_LARGE', async () => {
    const { host, client } = await connection(new Host(8));
    host.onRequest = () => {};
    client.socket.write('POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n5\r\n67890\r\n');
    await client.closed();
    assert.deepEqual(
      host.failures.map((e) => e.code),
      ['PORTICO_ERR_BODY_TOO_LARGE'],
    );
  });

  it('Expect: 100-continue is answered at once, before the body is sent', async () => {
    const { host, client } = await connection();
    host.onRequest = echoBody;
    client.socket.write('PUT /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n');
    await client.until('HTTP/1.1 100 Continue\r\n\r\n');
    assert.equal(client.text, 'HTTP/1.1 100 Continue\r\n\r\n', 'nothing else yet');
    client.socket.write('data');
    await client.until('\r\n\r\ndata');
    client.socket.destroy();
  });

  it("a body cut short by the client's FIN: the connection closes and the request hears 'close' incomplete", async () => {
    const { host, client } = await connection();
    let req: LeanBodyRequest | null = null;
    host.onRequest = (asked) => {
      req = asked.req as LeanBodyRequest;
      req.on('data', () => {});
    };
    const asked = once(host, 'request');
    client.socket.write('POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhalf');
    await asked;
    const closed = once(req!, 'close');
    client.socket.end();
    await closed;
    assert.equal(req!.complete, false);
    await client.closed();
  });
});

describe('LeanConnection: keep-alive, close and the client', { timeout: 60_000 }, () => {
  it("the client's Connection: close: the response says so and the connection closes after it", async () => {
    const { host, client } = await connection();
    client.socket.write(get('/last', 'Connection: close\r\n') + get('/never'));
    await client.closed();
    assert.deepEqual(bodies(client.text), ['/last']);
    assert.deepEqual(
      host.heads.map((h) => h.url),
      ['/last'],
      'what follows is never parsed',
    );
    assert.match(client.text, /\r\nConnection: close\r\n/);
  });

  it('a draining host (a gateway process being replaced): the next response says Connection: close, and the connection closes after it', async () => {
    const { host, client } = await connection();
    client.socket.write(get('/before'));
    await client.until('/before');
    assert.doesNotMatch(client.text, /\r\nConnection: close\r\n/);
    host.draining = true;
    client.socket.write(get('/last') + get('/never'));
    await client.closed();
    assert.deepEqual(bodies(client.text), ['/before', '/last']);
    assert.match(client.text, /\r\nConnection: close\r\n/);
  });

  it('close(): an idle connection closes at once', async () => {
    const { conn, client } = await connection();
    client.socket.write(get('/one'));
    await client.until('/one');
    conn.close();
    await client.closed();
    assert.deepEqual(bodies(client.text), ['/one']);
  });

  it('close(): a busy connection finishes its response, which says Connection: close, then closes', async () => {
    const { host, conn, client } = await connection();
    host.onRequest = () => {};
    client.socket.write(get('/busy'));
    const [asked] = (await once(host, 'request')) as [Asked];
    conn.close();
    answerWithUrl(asked);
    await client.closed();
    assert.deepEqual(bodies(client.text), ['/busy']);
    assert.match(client.text, /\r\nConnection: close\r\n/);
  });

  it("a client that goes away mid-response: the response hears 'close' without 'finish'", async () => {
    const { host, client } = await connection();
    host.onRequest = ({ res }) => res.writeHead(200, ['Content-Length', '100']);
    client.socket.write(get('/slow'));
    const [asked] = (await once(host, 'request')) as [Asked];
    let finished = false;
    asked.res.on('finish', () => (finished = true));
    const closed = once(asked.res, 'close');
    client.socket.destroy();
    await closed;
    assert.equal(finished, false);
    assert.equal(asked.res.destroyed, true);
  });

  it("a client that stops reading: write() says false, and 'drain' comes once it reads again", async () => {
    const { host, client } = await connection();
    const big = Buffer.alloc(8 << 20, 0x61);
    host.onRequest = ({ res }) => res.writeHead(200, ['Content-Length', String(big.length + 2)]);
    client.socket.pause();
    client.socket.write(get('/big'));
    const [asked] = (await once(host, 'request')) as [Asked];
    assert.equal(asked.res.write(big), false);
    const drained = once(asked.res, 'drain');
    client.socket.resume();
    await drained;
    asked.res.end(Buffer.from('OK'));
    await client.until('aOK');
    client.socket.destroy();
  });
});
