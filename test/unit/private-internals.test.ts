// The private Node and avsc internals portico still uses (docs/architecture.md, "Private
// internals"): each is pinned here in the shape the code relies on, so that a Node (the suite runs
// on 20 and 24) or an avsc where it changed fails this file by name, not a distant test by symptom.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { IncomingMessage, createServer, type Server, type ServerResponse } from 'node:http';
import * as net from 'node:net';
import { describe, test } from 'node:test';
import avsc from 'avsc';

async function listening(server: Server | net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

describe('private internals portico relies on', () => {
  test("_http_common's HTTPParser and methods (gateway/front/http-parser.ts: the lean front's llhttp)", () => {
    const common = createRequire(import.meta.url)('_http_common') as { HTTPParser?: unknown; methods?: unknown };
    assert.equal(typeof common.HTTPParser, 'function');
    const parser = common.HTTPParser as { REQUEST?: unknown; kOnHeadersComplete?: unknown; kOnExecute?: unknown };
    assert.equal(typeof parser.REQUEST, 'number');
    assert.equal(typeof parser.kOnHeadersComplete, 'number');
    assert.ok(Array.isArray(common.methods) && (common.methods as string[]).includes('GET'));
  });

  test("a parser reading a socket itself: consume, kOnExecute, getCurrentBuffer, unconsume, a handle's isStreamBase, and socket.bytesRead counting the read (gateway/front/lean-connection.ts)", async () => {
    type Parser = Record<number, unknown> & { initialize(...a: unknown[]): void; consume(h: object): void; unconsume(): void; getCurrentBuffer(): Buffer };
    const { HTTPParser } = createRequire(import.meta.url)('_http_common') as {
      HTTPParser: (new () => Parser) & { REQUEST: number; kOnHeadersComplete: number; kOnExecute: number; kLenientNone: number };
    };
    assert.equal(typeof HTTPParser.kOnExecute, 'number');
    const seen = { streamBase: false, url: '', ret: -1, read: '', bytesRead: -1 };
    const server = net.createServer((socket) => {
      const handle = (socket as net.Socket & { _handle: { isStreamBase?: boolean } })._handle;
      seen.streamBase = handle.isStreamBase === true;
      const parser = new HTTPParser();
      parser.initialize(HTTPParser.REQUEST, {}, 0, HTTPParser.kLenientNone);
      parser[HTTPParser.kOnHeadersComplete] = (...args: unknown[]) => {
        seen.url = String(args[4]);
        return 2;
      };
      parser[HTTPParser.kOnExecute] = (ret: number) => {
        seen.ret = ret;
        seen.read = parser.getCurrentBuffer().toString('latin1');
        seen.bytesRead = socket.bytesRead;
        parser.unconsume();
        socket.end();
      };
      socket.on('data', () => {});
      parser.consume(handle);
    });
    const port = await listening(server);
    try {
      const request = 'GET /pinned HTTP/1.1\r\nHost: x\r\n\r\nNEXT';
      const client = net.connect(port, '127.0.0.1');
      client.end(request);
      client.resume();
      await once(client, 'close');
      assert.deepEqual(seen, { streamBase: true, url: '/pinned', ret: request.length - 4, read: request, bytesRead: request.length });
    } finally {
      server.close();
    }
  });

  test('net._createServerHandle (master/shared-socket.ts: the master binds without listening)', () => {
    assert.equal(typeof (net as unknown as { _createServerHandle?: unknown })._createServerHandle, 'function');
  });

  test("a server socket's _httpMessage, a response's _header, IncomingMessage's _addHeaderLines", async () => {
    assert.equal(typeof (IncomingMessage.prototype as unknown as { _addHeaderLines?: unknown })._addHeaderLines, 'function');
    const seen: { pending: unknown; res: ServerResponse | null; header: unknown } = { pending: null, res: null, header: null };
    const server = createServer((req, res) => {
      seen.pending = (req.socket as net.Socket & { _httpMessage?: unknown })._httpMessage;
      seen.res = res;
      res.writeHead(200, { 'content-length': '2' });
      seen.header = (res as unknown as { _header?: unknown })._header;
      res.end('ok');
    });
    const port = await listening(server);
    try {
      assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), 'ok');
      assert.equal(seen.pending, seen.res);
      assert.match(String(seen.header), /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n$/);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  test("a connected socket's and a listening server's handle have readStop/readStart (upgrade hand-off, --accept-busy)", async () => {
    const server = net.createServer((s) => s.destroy());
    const port = await listening(server);
    try {
      const listenHandle = (server as unknown as { _handle?: { readStop?: unknown; readStart?: unknown } })._handle;
      assert.equal(typeof listenHandle?.readStop, 'function');
      assert.equal(typeof listenHandle?.readStart, 'function');
      const client = net.connect(port, '127.0.0.1');
      await once(client, 'connect');
      const handle = (client as unknown as { _handle?: { readStop?: unknown } })._handle;
      assert.equal(typeof handle?.readStop, 'function');
      assert.equal(typeof client.destroySoon, 'function');
      client.destroy();
    } finally {
      server.close();
    }
  });

  test("a socket rebuilt from another's raw handle, new Socket({ handle }), carries its connection (--gateway-processes: master/gateway-process.ts)", async () => {
    // Sending the raw handle over IPC (cli/gateway-child.ts) is pinned by the WebSocket test of
    // test/integration/gateway/gateway-processes.test.ts, which goes through it.
    let accepted: net.Socket | null = null;
    const server = net.createServer((s) => (accepted = s));
    const port = await listening(server);
    try {
      const client = net.connect(port, '127.0.0.1');
      await once(client, 'connect');
      while (accepted === null) await once(server, 'connection');
      const original = accepted as net.Socket;
      const handle = (original as unknown as { _handle?: { readStop?: () => unknown } })._handle;
      assert.ok(handle !== undefined);
      handle.readStop?.();
      const rebuilt = new net.Socket({ handle } as unknown as net.SocketConstructorOpts);
      const echoed = once(client, 'data');
      rebuilt.write('through the rebuilt socket');
      assert.equal(String((await echoed)[0]), 'through the rebuilt socket');
      rebuilt.destroy();
      client.destroy();
    } finally {
      server.close();
    }
  });

  test("avsc's ArrayType decodes through _read(tap) (protocol/link/bounded-avro.ts bounds the count)", () => {
    const type = avsc.Type.forSchema({ type: 'array', items: 'string' });
    assert.ok(type instanceof avsc.types.ArrayType);
    assert.equal(typeof (avsc.types.ArrayType.prototype as unknown as { _read?: unknown })._read, 'function');
    assert.deepEqual(type.fromBuffer(type.toBuffer(['a', 'b'])), ['a', 'b']);
  });
});
