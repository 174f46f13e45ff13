import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { isPorticoError } from '../../../../common/errors.js';
import { parseContentLength } from '../../../../protocol/uwsgi/content-length.js';
import { encodePacket, encodePacketHead } from '../../../../protocol/uwsgi/packet-encoder.js';
import { httpServerRefusal, mayBeResponseStart, parseResponseHead, showBytes } from '../../../../protocol/uwsgi/response-head-parser.js';
import { formatSocketAddress, parseSocketAddress } from '../../../../protocol/socket-address.js';
import { decodeChunks } from '../../../support/decode-all.js';
import { requestVectors } from '../../../../support/vectors.js';

describe('packet decoder limits and errors', () => {
  it('refuses a vars block larger than --buffer-size and says which option to raise', () => {
    const packet = encodePacket({ vars: [['HTTP_X', 'y'.repeat(5000)]] });
    const d = decodeChunks([packet], { bufferSize: 4096 });
    assert.equal(d.error?.code, 'PORTICO_ERR_VARS_TOO_BIG');
    assert.match(d.error!.message, /--buffer-size/);
    assert.equal(d.head, null);
  });

  it('accepts the same block when --buffer-size allows it', () => {
    const packet = encodePacket({ vars: [['HTTP_X', 'y'.repeat(5000)]] });
    assert.equal(decodeChunks([packet], { bufferSize: 8192 }).error, null);
  });

  it('refuses a var length that points past the block', () => {
    const packet = encodePacket({ vars: [['REQUEST_METHOD', 'GET']] });
    packet.writeUInt16LE(200, 4 + 2 + 'REQUEST_METHOD'.length); // value length 200 in a 23-byte block
    assert.equal(decodeChunks([packet]).error?.code, 'PORTICO_ERR_BAD_VAR_LENGTH');
  });

  it('refuses a key length that points past the block', () => {
    const packet = encodePacket({ vars: [['A', 'B']] });
    packet.writeUInt16LE(60000, 4);
    assert.equal(decodeChunks([packet]).error?.code, 'PORTICO_ERR_BAD_VAR_LENGTH');
  });

  it('refuses an unknown modifier1', () => {
    const packet = encodePacket({ modifier1: 17, vars: [['A', 'B']] });
    const d = decodeChunks([packet]);
    assert.equal(d.error?.code, 'PORTICO_ERR_UNKNOWN_MODIFIER');
    assert.match(d.error!.message, /17/);
  });

  it('recognises HTTP sent to a uwsgi socket ("invalid request block size 21573")', () => {
    const d = decodeChunks([Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]);
    assert.equal(d.error?.code, 'PORTICO_ERR_HTTP_ON_UWSGI_SOCKET');
    assert.match(d.error!.message, /invalid request block size 21573/);
  });

  it('treats EOF before the first byte as a normal close', () => {
    const d = decodeChunks([]);
    assert.equal(d.error, null);
    assert.equal(d.head, null);
  });

  it('reports a connection closed inside the header or the vars', () => {
    const packet = requestVectors()[0]!.packet;
    assert.equal(decodeChunks([packet.subarray(0, 3)]).error?.code, 'PORTICO_ERR_TRUNCATED_PACKET');
    assert.equal(decodeChunks([packet.subarray(0, 40)]).error?.code, 'PORTICO_ERR_TRUNCATED_PACKET');
  });

  it('reports a connection closed inside the body, after handing on what arrived', () => {
    const v = requestVectors().find((x) => x.name === 'nginx-put-4k-binary')!;
    const d = decodeChunks([v.packet.subarray(0, v.packet.length - 100)]);
    assert.equal(d.error?.code, 'PORTICO_ERR_TRUNCATED_BODY');
    assert.equal(d.body.length, v.body.length - 100);
    assert.equal(d.ended, false);
  });

  it('does not wait for EOF: the request ends when CONTENT_LENGTH bytes arrived', () => {
    const v = requestVectors().find((x) => x.name === 'nginx-post-form')!;
    const d = decodeChunks([v.packet], { eof: false });
    assert.ok(d.ended);
  });

  it('ignores bytes after the body', () => {
    const v = requestVectors().find((x) => x.name === 'nginx-post-form')!;
    const d = decodeChunks([Buffer.concat([v.packet, Buffer.from('garbage')])]);
    assert.equal(d.error, null);
    assert.deepEqual(d.body, v.body);
  });
});

describe('CONTENT_LENGTH', () => {
  it('is a plain decimal or nothing', () => {
    assert.equal(parseContentLength('21'), 21);
    assert.equal(parseContentLength(''), 0);
    assert.equal(parseContentLength(undefined), 0);
    assert.equal(parseContentLength('12abc'), 0);
    assert.equal(parseContentLength('-5'), 0);
    assert.equal(parseContentLength(' 5'), 0);
    assert.equal(parseContentLength('9'.repeat(20)), 0);
  });
});

describe('packet encoder limits', () => {
  it('refuses a value longer than 65535 bytes with a coded error', () => {
    assert.throws(() => encodePacketHead({ vars: [['X', 'y'.repeat(70000)]] }), { code: 'PORTICO_ERR_VARS_TOO_BIG' });
  });
  it('refuses a block longer than 65535 bytes', () => {
    const vars: Array<[string, string]> = [];
    for (let i = 0; i < 20; i++) vars.push([`H${i}`, 'v'.repeat(4000)]);
    assert.throws(() => encodePacketHead({ vars }), { code: 'PORTICO_ERR_VARS_TOO_BIG' });
  });
});

describe('response head parser', () => {
  const parse = (s: string): ReturnType<typeof parseResponseHead> => parseResponseHead(Buffer.from(s, 'latin1'));
  it('parses a status line and repeated headers in order', () => {
    const h = parse('HTTP/1.1 302 Found\r\nLocation: /next\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nbody');
    assert.equal(h?.status, 302);
    assert.deepEqual(h?.headers, [
      ['Location', '/next'],
      ['Set-Cookie', 'a=1'],
      ['Set-Cookie', 'b=2'],
    ]);
  });
  it('waits for the blank line', () => {
    assert.equal(parse('HTTP/1.1 200 OK\r\nA: b\r\n'), null);
  });
  for (const [name, text] of [
    ['bad status line', 'HTTP/1.1 20 OK\r\n\r\n'],
    ['not HTTP', 'HTTX/1.1 200 OK\r\n\r\n'],
    ['NUL in a value', 'HTTP/1.1 200 OK\r\nA: b\0c\r\n\r\n'],
    ['bare LF inside a header', 'HTTP/1.1 200 OK\r\nA: b\nInjected: 1\r\n\r\n'],
    ['header without colon', 'HTTP/1.1 200 OK\r\nNoColon\r\n\r\n'],
    ['space in a name', 'HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n'],
  ] as const) {
    it(`refuses a ${name} with PORTICO_ERR_BAD_RESPONSE`, () => {
      assert.throws(
        () => parse(text),
        (e: unknown) => isPorticoError(e) && e.code === 'PORTICO_ERR_BAD_RESPONSE',
      );
    });
  }
});

describe('what only a server that is no uwsgi server answers', () => {
  const head = (s: string): NonNullable<ReturnType<typeof parseResponseHead>> => parseResponseHead(Buffer.from(s, 'latin1'))!;
  it('a status line can start only "HTTP/1.": told from the first byte that differs', () => {
    for (const ok of ['', 'H', 'HTTP/', 'HTTP/1.', 'HTTP/1.1 200 OK\r\n']) assert.equal(mayBeResponseStart(Buffer.from(ok, 'latin1')), true, ok);
    for (const bad of ['\x15\x03\x03', 'SSH-2.0', 'HTTX', 'HTTP/2', 'http/1.1 200', '<html>', '\0\0\0\x04']) {
      assert.equal(mayBeResponseStart(Buffer.from(bad, 'latin1')), false, bad);
    }
  });
  it("an HTTP server's refusal: 400 (408, 414, 431, 501, 505) with Connection: close, and nothing else", () => {
    assert.equal(httpServerRefusal(head('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n')), '"HTTP/1.1 400 Bad Request" with Connection: close');
    assert.equal(httpServerRefusal(head('HTTP/1.0 408 Request Timeout\r\nconnection: keep-alive, Close\r\n\r\n')), '"HTTP/1.0 408 Request Timeout" with Connection: close');
    assert.equal(httpServerRefusal(head('HTTP/1.1 400 Bad\x01Request\r\nConnection: close\r\n\r\n')), '"HTTP/1.1 400 Bad?Request" with Connection: close');
    // An app's own 400, and a close that comes with another status, are answers a uwsgi server may give.
    assert.equal(httpServerRefusal(head('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n')), null);
    assert.equal(httpServerRefusal(head('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n')), null);
    assert.equal(httpServerRefusal(head('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n')), null);
    assert.equal(httpServerRefusal(head('HTTP/1.1 400 Bad Request\r\nConnection: closed\r\n\r\n')), null);
  });
  it('bytes for a log line: printable ASCII as is, the rest escaped, long input cut', () => {
    assert.equal(showBytes(Buffer.from('\x15\x03ok"\\\r\n', 'latin1')), '"\\x15\\x03ok\\x22\\x5c\\x0d\\x0a"');
    assert.equal(showBytes(Buffer.from('abcdef'), 3), '"abc..."');
  });
});

describe('socket addresses', () => {
  it('tells unix paths from TCP addresses as uWSGI does', () => {
    assert.deepEqual(parseSocketAddress('/tmp/p.sock'), { kind: 'unix', path: '/tmp/p.sock' });
    assert.deepEqual(parseSocketAddress('unix:/run/p.sock'), { kind: 'unix', path: '/run/p.sock' });
    assert.deepEqual(parseSocketAddress('127.0.0.1:3031'), { kind: 'tcp', host: '127.0.0.1', port: 3031 });
    assert.deepEqual(parseSocketAddress(':3031'), { kind: 'tcp', host: '0.0.0.0', port: 3031 });
    assert.deepEqual(parseSocketAddress('[::1]:3031'), { kind: 'tcp', host: '::1', port: 3031 });
    assert.deepEqual(parseSocketAddress('p.sock'), { kind: 'unix', path: 'p.sock' });
  });
  it('reads a bare number as a port on every interface, where uWSGI would name a unix socket file after it', () => {
    assert.deepEqual(parseSocketAddress('3031'), { kind: 'tcp', host: '0.0.0.0', port: 3031 });
    assert.deepEqual(parseSocketAddress('unix:3031'), { kind: 'unix', path: '3031' });
    assert.deepEqual(parseSocketAddress('./3031'), { kind: 'unix', path: './3031' });
  });
  it('formats an address so that it reads back the same (a master hands it to its workers)', () => {
    for (const spec of ['/run/p.sock', 'p.sock', 'unix:3031', '3031', '127.0.0.1:3031', '[::1]:3031', ':3031']) {
      const addr = parseSocketAddress(spec);
      assert.deepEqual(parseSocketAddress(formatSocketAddress(addr)), addr, spec);
    }
    assert.equal(formatSocketAddress({ kind: 'unix', path: '3031' }), 'unix:3031');
  });
});
