// uWSGI's logformat (common/log-format.ts): a template of %(name) variables with uWSGI's names and
// meanings, %(var.NAME) for any uwsgi var, compiled once; an unknown variable is refused at start.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isPorticoError } from '../../../common/errors.js';
import { compileLogFormat } from '../../../common/log-format.js';
import type { RequestRecord } from '../../../common/logger.js';

const vars = new Map([
  ['HTTP_HOST', 'example.com'],
  ['HTTP_USER_AGENT', 'curl/8'],
  ['CONTENT_LENGTH', '12'],
  ['HTTP_X_REQUEST_ID', 'abc'],
]);
const record: RequestRecord = {
  pid: 321,
  workerRequests: 5,
  totalRequests: 9,
  remoteAddr: '10.0.0.1',
  remoteUser: '',
  varsCount: 14,
  varsBytes: 400,
  startedAt: Date.UTC(2026, 0, 2, 3, 4, 5, 678),
  method: 'POST',
  uri: '/up?x=1',
  bodyBytes: 100,
  durationMs: 12.3456,
  protocol: 'HTTP/1.1',
  status: 201,
  headersCount: 3,
  headersBytes: 80,
  switches: 2,
  workerId: 4,
  vars: { get: (n) => vars.get(n) },
  aborted: false,
};

describe('compileLogFormat', () => {
  it("uWSGI's default line, from its documented template", () => {
    const line = compileLogFormat('%(addr) - %(user) [%(ltime)] "%(method) %(uri) %(proto)" %(status) %(size) "%(referer)" "%(uagent)"')(record);
    assert.equal(line, '10.0.0.1 - - [Fri, 02 Jan 2026 03:04:05 GMT] "POST /up?x=1 HTTP/1.1" 201 100 "" "curl/8"');
  });

  it('times, sizes and counts as uWSGI names them; text around and between variables kept', () => {
    const line = compileLogFormat('<%(time)|%(epoch)|%(msecs)|%(micros)|%(hsize)|%(rsize)|%(headers)|%(cl)|%(host)|%(pid)|%(wid)|%(switches)|%(vars)|%(pktsize)|%(core)>')(record);
    assert.equal(line, '<1767323045|1767323045|12|12345|80|180|3|12|example.com|321|4|2|14|400|0>');
  });

  it('%(var.NAME) is any var of the request, empty when absent; %(cl) is 0 without one', () => {
    const f = compileLogFormat('id=%(var.HTTP_X_REQUEST_ID) none=%(var.HTTP_NOPE) cl=%(cl)');
    assert.equal(f(record), 'id=abc none= cl=12');
    assert.equal(f({ ...record, vars: undefined }), 'id= none= cl=0');
  });

  it('a template without variables is itself; a % that names none stays', () => {
    assert.equal(compileLogFormat('plain 100% %(')(record), 'plain 100% %(');
  });

  it('an unknown variable is PORTICO_ERR_INVALID_OPTION naming it and the known ones', () => {
    assert.throws(
      () => compileLogFormat('%(status) %(nope)'),
      (err: unknown) => isPorticoError(err) && err.code === 'PORTICO_ERR_INVALID_OPTION' && /unknown variable %\(nope\); known: uri, method/.test(err.message),
    );
  });
});
