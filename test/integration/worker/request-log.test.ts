// The request line (worker/exchange/request-log.ts, common/logger.ts) is uWSGI's, field for field, so log
// parsers built for uWSGI read portico's: the same uwsgi packet sent to real uWSGI and to a portico
// worker gives the same vars count and size, the asctime date (`Dec  6`), and the switches tail.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { uwsgiRequest } from '../../../protocol/uwsgi/uwsgi-client.js';
import { startProcess, type Started } from '../../../support/child-process.js';
import { fixturesDir, porticoBin } from '../../../support/paths.js';
import { startWorker } from '../../../support/portico-worker.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { needPeer, uwsgiMissing } from '../../support/peers.js';

/** uWSGI's line, every field captured: pid, req, addr, vars, bytes, date, method, uri, body, ms, proto, status, headers, bytes, switches, core. */
const LINE =
  /^\[pid: (\d+)\|app: 0\|req: (\d+)\/(\d+)\] (\S*) \(\) \{(\d+) vars in (\d+) bytes\} \[((?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 123]\d \d\d:\d\d:\d\d \d{4})\] (\S+) (\S+) => generated (\d+) bytes in (\d+) msecs \((HTTP\/1\.[01]) (\d{3})\) (\d+) headers in (\d+) bytes \((\d+) switches on core (\d+)\)$/m;

describe('the request log line, against real uWSGI', { skip: needPeer(uwsgiMissing()), timeout: 60_000 }, () => {
  const tmp = makeTmpDir('request-log');
  let uwsgi: Started | undefined;
  let worker: Started | undefined;
  const uwsgiSock = join(tmp.path, 'uwsgi.sock');
  const porticoSock = join(tmp.path, 'portico.sock');

  before(async () => {
    uwsgi = startProcess('/usr/bin/uwsgi', ['--strict', '--die-on-term', '--plugin', 'python3', '--socket', uwsgiSock, '--wsgi-file', join(fixturesDir, 'odd-status-app.py'), '--need-app']);
    await uwsgi.waitFor(/spawned uWSGI worker 1 \(and the only\)/);
    worker = await startWorker(join(fixturesDir, 'wsgi-app.mjs'), porticoSock);
  });
  after(async () => {
    await uwsgi?.stop();
    await worker?.stop();
    tmp.cleanup();
  });

  it('the same packet: the same vars count and size, a line of the same shape', async () => {
    const headers: Array<[string, string]> = [
      ['Host', 'example.com'],
      ['User-Agent', 'log-test'],
      ['Accept', '*/*'],
    ];
    await uwsgiRequest({ socket: uwsgiSock, path: '/?q=1', headers });
    await uwsgiRequest({ socket: porticoSock, path: '/?q=1', headers });
    const theirs = await uwsgi!.waitFor(LINE);
    const ours = await worker!.waitFor(LINE);
    // vars: uWSGI counts keys and values; bytes: the packet's datasize.
    assert.equal(ours[5], theirs[5], `vars count: ours ${ours[0]}\ntheirs ${theirs[0]}`);
    assert.equal(ours[6], theirs[6]);
    assert.equal(ours[8], 'GET');
    assert.equal(ours[9], '/?q=1');
    assert.equal(ours[13], '200');
    assert.equal(ours[17], '0');
    // The date as uWSGI writes it (asctime: the day of the month space-padded, `Dec  6`): the
    // same weekday, month and day as uWSGI's line of the same moment.
    assert.equal(ours[7]!.slice(0, 10), theirs[7]!.slice(0, 10));
  });

  it("--log-format (alias logformat) takes uWSGI's logformat template, %(var.NAME) too; an unknown variable is refused at start", async () => {
    const sock = join(tmp.path, 'format.sock');
    const template = '%(addr) - %(user) "%(method) %(uri) %(proto)" %(status) %(size) "%(referer)" "%(uagent)" %(host) %(var.HTTP_X_ID) vars=%(vars) core=%(core)';
    const w = await startWorker(join(fixturesDir, 'wsgi-app.mjs'), sock, ['--logformat', template]);
    try {
      await uwsgiRequest({
        socket: sock,
        path: '/?q=1',
        headers: [
          ['Host', 'example.com'],
          ['User-Agent', 'log-test'],
          ['Referer', 'http://r/'],
          ['X-Id', 'abc'],
        ],
      });
      const line = await w.waitFor(/^127\.0\.0\.1 - - "GET .*$/m);
      assert.match(line[0], /^127\.0\.0\.1 - - "GET \/\?q=1 HTTP\/1\.1" 200 \d+ "http:\/\/r\/" "log-test" example\.com abc vars=\d+ core=0$/);
    } finally {
      await w.stop();
    }
    const r = spawnSync(process.execPath, [porticoBin, 'worker', join(fixturesDir, 'wsgi-app.mjs'), '--socket', join(tmp.path, 'never.sock'), '--log-format', '%(nope)'], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /PORTICO_ERR_INVALID_OPTION: .*--log-format: unknown variable %\(nope\)/);
  });
});
