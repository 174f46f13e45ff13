import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { UwsgiVars } from '../../../../protocol/uwsgi/uwsgi-vars.js';
import { buildRequestVars } from '../../../../protocol/uwsgi/request-vars.js';
import { headersFromVars, urlFromVars } from '../../../../worker/adapters/request-headers.js';
import { requestVectors } from '../../../../support/vectors.js';

const pairsToObject = (flat: string[]): Record<string, string> => {
  const o: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) o[flat[i]!] = flat[i + 1]!;
  return o;
};

describe('request headers from uwsgi vars', () => {
  it("joins nginx's repeated vars with ', ' and Cookie with '; '", () => {
    const v = requestVectors().find((x) => x.name === 'nginx-get-utf8-path-query-dup-headers-cookie')!;
    const h = pairsToObject(headersFromVars(UwsgiVars.fromPairs(v.vars)));
    assert.equal(h['x-custom'], 'a, b');
    assert.equal(h.cookie, 'a=1; b=2');
    assert.equal(h['accept-language'], 'ko-KR');
  });

  it("keeps uWSGI router's already-joined value as it is", () => {
    const v = requestVectors().find((x) => x.name === 'uwsgi-router-get-dup-headers')!;
    assert.equal(pairsToObject(headersFromVars(UwsgiVars.fromPairs(v.vars)))['x-custom'], 'a, b');
  });

  it("takes CONTENT_TYPE/CONTENT_LENGTH once, not nginx's HTTP_ copies too", () => {
    const v = requestVectors().find((x) => x.name === 'nginx-post-form')!;
    const flat = headersFromVars(UwsgiVars.fromPairs(v.vars));
    assert.equal(flat.filter((n, i) => i % 2 === 0 && n === 'content-length').length, 1);
    assert.equal(pairsToObject(flat)['content-type'], 'application/x-www-form-urlencoded');
  });

  it('builds the URL from scheme, Host and the raw REQUEST_URI', () => {
    const v = requestVectors().find((x) => x.name === 'nginx-get-utf8-path-query-dup-headers-cookie')!;
    assert.equal(urlFromVars(UwsgiVars.fromPairs(v.vars)), 'http://127.0.0.1/path/with%20space/%ED%95%9C?q=1&b=%2F&k=%ED%95%9C');
  });
});

describe('request vars as nginx builds them', () => {
  it("produces nginx's vars for the same request, in the same order", () => {
    const v = requestVectors().find((x) => x.name === 'nginx-post-form')!;
    const want = v.vars.filter(([k]) => k !== 'DOCUMENT_ROOT');
    const get = (k: string): string => want.find(([n]) => n === k)![1];
    const built = buildRequestVars({
      method: 'POST',
      uri: '/form',
      headers: want.filter(([k]) => k.startsWith('HTTP_')).map(([k, val]) => [k.slice(5).replace(/_/g, '-').toLowerCase(), val]),
      remoteAddr: get('REMOTE_ADDR'),
      remotePort: get('REMOTE_PORT'),
      serverPort: get('SERVER_PORT'),
      serverName: '',
    });
    assert.deepEqual(built.pairs(), want);
  });

  it('drops header names with underscores, as nginx does', () => {
    const built = buildRequestVars({
      method: 'GET',
      uri: '/',
      headers: [
        ['X_Forwarded_For', '6.6.6.6'],
        ['X-Forwarded-For', '1.2.3.4'],
      ],
    });
    assert.deepEqual(built.getAll('HTTP_X_FORWARDED_FOR'), ['1.2.3.4']);
  });

  it('percent-decodes PATH_INFO and keeps a malformed escape as sent', () => {
    const built = buildRequestVars({ method: 'GET', uri: '/a%20b/%ED%95%9C/%zz?q=%20', headers: [] });
    assert.equal(built.get('PATH_INFO'), '/a b/한/%zz');
    assert.equal(built.get('QUERY_STRING'), 'q=%20');
  });
});
