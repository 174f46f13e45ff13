// The addresses --socket, --http, --upstream and --stats take (protocol/socket-address.ts), as
// uWSGI reads them but for a bare number (a port here), read back the same by formatSocketAddress,
// and a bind failure turned into one coded line that says what to change.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectOptions, formatSocketAddress, listenError, parseSocketAddress, type SocketAddress } from '../../../protocol/socket-address.js';

describe('parseSocketAddress and formatSocketAddress', () => {
  const cases: Array<[string, SocketAddress, string]> = [
    ['/run/app.sock', { kind: 'unix', path: '/run/app.sock' }, '/run/app.sock'],
    ['unix:/run/app.sock', { kind: 'unix', path: '/run/app.sock' }, '/run/app.sock'],
    ['app.sock', { kind: 'unix', path: 'app.sock' }, 'app.sock'],
    ['unix:1234', { kind: 'unix', path: '1234' }, 'unix:1234'],
    ['./1234', { kind: 'unix', path: './1234' }, './1234'],
    ['127.0.0.1:3031', { kind: 'tcp', host: '127.0.0.1', port: 3031 }, '127.0.0.1:3031'],
    ['localhost:80', { kind: 'tcp', host: 'localhost', port: 80 }, 'localhost:80'],
    [':3031', { kind: 'tcp', host: '0.0.0.0', port: 3031 }, '0.0.0.0:3031'],
    ['3031', { kind: 'tcp', host: '0.0.0.0', port: 3031 }, '0.0.0.0:3031'],
    ['[::1]:8000', { kind: 'tcp', host: '::1', port: 8000 }, '[::1]:8000'],
    ['dir/host:80', { kind: 'unix', path: 'dir/host:80' }, 'dir/host:80'],
    ['[/tmp]:80', { kind: 'unix', path: '[/tmp]:80' }, '[/tmp]:80'],
    ['host:port', { kind: 'unix', path: 'host:port' }, 'host:port'],
    ['host:123456', { kind: 'unix', path: 'host:123456' }, 'host:123456'],
  ];
  for (const [spec, address, formatted] of cases) {
    it(`${JSON.stringify(spec)}: ${formatted}`, () => {
      assert.deepEqual(parseSocketAddress(spec), address);
      assert.equal(formatSocketAddress(address), formatted);
      assert.deepEqual(parseSocketAddress(formatted), address, 'read back the same');
    });
  }

  it('connectOptions: a path, or a host and port', () => {
    assert.deepEqual(connectOptions({ kind: 'unix', path: '/s' }), { path: '/s' });
    assert.deepEqual(connectOptions({ kind: 'tcp', host: '::1', port: 1 }), { host: '::1', port: 1 });
  });
});

describe('listenError', () => {
  const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`${code} happened`), { code });

  it('EACCES names the fix for a unix socket and for a low port', () => {
    const unix = listenError(errno('EACCES'), { kind: 'unix', path: '/root/x.sock' });
    assert.equal(unix.code, 'PORTICO_ERR_SOCKET_PERMISSION');
    assert.match(unix.message, /cannot bind \/root\/x\.sock: the directory is not writable/);
    const tcp = listenError(errno('EACCES'), { kind: 'tcp', host: '0.0.0.0', port: 80 });
    assert.match(tcp.message, /0\.0\.0\.0:80: ports below 1024 need root or CAP_NET_BIND_SERVICE/);
  });

  it("EADDRINUSE is PORTICO_ERR_SOCKET_IN_USE; anything else PORTICO_ERR_INVALID_OPTION with the system's words; the cause is kept", () => {
    const cause = errno('EADDRINUSE');
    const inUse = listenError(cause, { kind: 'tcp', host: '127.0.0.1', port: 8000 });
    assert.equal(inUse.code, 'PORTICO_ERR_SOCKET_IN_USE');
    assert.match(inUse.message, /127\.0\.0\.1:8000 is in use/);
    assert.equal(inUse.cause, cause);
    const other = listenError(errno('ENAMETOOLONG'), { kind: 'unix', path: '/x' });
    assert.equal(other.code, 'PORTICO_ERR_INVALID_OPTION');
    assert.match(other.message, /cannot bind \/x: ENAMETOOLONG happened/);
  });
});
