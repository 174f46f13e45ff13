// The one rule for a Host header (protocol/http/host.ts): host[:port] of a reg-name, IPv4 or
// [IPv6], and nothing a URL parser would read as the end of the authority, so no Host can move the
// path an app builds from it; and nothing that makes an app's `new URL()` throw.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isValidHost } from '../../../../protocol/http/host.js';

describe('isValidHost', () => {
  it('takes names, addresses and ports as clients send them', () => {
    for (const host of [
      'example.com',
      'example.com:8080',
      'a-b.c_d~e',
      '127.0.0.1',
      '127.0.0.1:80',
      '[::1]',
      '[::1]:8000',
      '[2001:db8::7]',
      'xn--bcher-kva.example',
      'localhost:',
      "sub!$&'()*+,;=.x",
    ]) {
      assert.equal(isValidHost(host), true, host);
    }
  });

  it('refuses what would move the path or the authority: \\ / ? # @, spaces and controls', () => {
    for (const host of ['a\\admin?', 'a/admin', 'a?x', 'a#x', 'user@a', 'a b', 'a\tb', 'a\x00', '']) {
      assert.equal(isValidHost(host), false, JSON.stringify(host));
    }
  });

  it('refuses what the shape allows but the URL parser does not: a port past 65535, an IPv4 part past 255, a bad IPv6', () => {
    for (const host of ['a:65536', 'a:123456', '256.0.0.1', '[::1::2]', '[::1', 'a:b']) {
      assert.equal(isValidHost(host), false, host);
    }
  });
});
