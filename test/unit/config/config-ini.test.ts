// The uWSGI-style ini reader (config/config-ini.ts): the [portico] and [uwsgi] sections in file
// order with repeated keys and line numbers kept, whole-line comments only, uWSGI's expansions
// (%-variables, $(ENV), @(FILE), @(exec://CMD)), its booleans, and one read per file and process.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isPorticoError } from '../../../common/errors.js';
import { parseBool, parseIni, readIniFile } from '../../../config/config-ini.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

const tmp = makeTmpDir('config-ini');
after(() => tmp.cleanup());

describe('ini reader', () => {
  it('reads [uwsgi] and [portico], keeps repeated keys and line numbers, skips comments and other sections', () => {
    const entries = parseIni(
      '; top comment\n[other]\nsocket = no\n[uwsgi]\n# comment\nstatic-map = /a=x\r\nstatic-map = /b=y\n[portico]\n  master = false  \nlogformat = a # not a comment\n',
      'f.ini',
      {},
    );
    assert.deepEqual(entries, [
      { key: 'static-map', value: '/a=x', line: 6 },
      { key: 'static-map', value: '/b=y', line: 7 },
      { key: 'master', value: 'false', line: 9 },
      { key: 'logformat', value: 'a # not a comment', line: 10 },
    ]);
  });

  it("expands uWSGI's %-variables, $(ENV) and @(exec://...)", () => {
    const [a, b, c] = parseIni('[uwsgi]\na = %d%n.sock\nb = $(HOME_X)/x\nc = @(exec://printf %%s-%%s one two)\n', '/etc/app/site.ini', { HOME_X: '/h' });
    assert.equal(a!.value, '/etc/app/site.sock');
    assert.equal(b!.value, '/h/x');
    assert.equal(c!.value, 'one-two');
  });

  it('refuses a file without a [portico] or [uwsgi] section, and a line that is not key = value', () => {
    assert.throws(() => parseIni('[app]\nx = 1\n', 'f.ini', {}), /no \[portico\] or \[uwsgi\] section/);
    assert.throws(() => parseIni('[uwsgi]\nmaster\n', 'f.ini', {}), /f\.ini:2: expected "key = value"/);
  });
});

describe('ini expansions', () => {
  it("every one of uWSGI's magic variables, %% a literal %, an unknown one left as it is", () => {
    const [v] = parseIni('[portico]\nv = %d|%p|%s|%n|%e|%c|%%|%x\n', '/srv/site/app.prod.ini', {});
    assert.equal(v!.value, '/srv/site/|/srv/site/app.prod.ini|app.prod.ini|app.prod|ini|site|%|%x');
  });

  it('$(VAR) unset is empty; @(FILE) is the file without its last newline; magic variables inside them first', () => {
    const file = join(tmp.path, 'site.ini');
    writeFileSync(join(tmp.path, 'secret.txt'), 's3cret\n');
    const [a, b] = parseIni('[uwsgi]\na = x$(NOPE)y\nb = @(%dsecret.txt)\n', file, {});
    assert.equal(a!.value, 'xy');
    assert.equal(b!.value, 's3cret');
  });

  it('an @() that fails is PORTICO_ERR_INVALID_OPTION naming the file', () => {
    const missing = join(tmp.path, 'missing.txt');
    assert.throws(
      () => parseIni(`[uwsgi]\na = @(${missing})\n`, 'f.ini', {}),
      (err: unknown) => isPorticoError(err) && err.code === 'PORTICO_ERR_INVALID_OPTION' && err.message.includes(`f.ini: @(${missing}) failed`),
    );
    assert.throws(() => parseIni('[uwsgi]\na = @(exec://exit 3)\n', 'f.ini', {}), /f\.ini: @\(exec:\/\/exit 3\) failed/);
  });

  it('a byte-order mark before the first section is no part of it', () => {
    assert.deepEqual(parseIni('\uFEFF[portico]\nhttp = :8000\n', 'f.ini', {}), [{ key: 'http', value: ':8000', line: 2 }]);
  });
});

describe('parseBool', () => {
  it("uWSGI's booleans in any case and with spaces; an empty value is a bare flag; anything else is no boolean", () => {
    for (const v of ['', 'true', 'TRUE', ' 1 ', 'yes', 'On']) assert.equal(parseBool(v), true, JSON.stringify(v));
    for (const v of ['false', '0', 'No', 'off']) assert.equal(parseBool(v), false, v);
    for (const v of ['2', 'y', 'enabled']) assert.equal(parseBool(v), undefined, v);
  });
});

describe('readIniFile', () => {
  it('reads a file once per process: an @(exec://) in it runs once however often it is read', () => {
    const counter = join(tmp.path, 'runs');
    const file = join(tmp.path, 'once.ini');
    writeFileSync(file, `[portico]\nruns = @(exec://echo x >> ${counter}; wc -l < ${counter})\n`);
    const first = readIniFile(file, {});
    const again = readIniFile(file, {});
    assert.equal(first[0]!.value.trim(), '1');
    assert.equal(again, first);
  });

  it('a file changed since is read again', () => {
    const file = join(tmp.path, 'changes.ini');
    writeFileSync(file, '[portico]\nhttp = :1\n');
    assert.equal(readIniFile(file, {})[0]!.value, ':1');
    writeFileSync(file, '[portico]\nhttp = :22\n');
    assert.equal(readIniFile(file, {})[0]!.value, ':22');
  });

  it('an unreadable file is PORTICO_ERR_INVALID_OPTION naming it', () => {
    const file = join(tmp.path, 'nope.ini');
    assert.throws(
      () => readIniFile(file, {}),
      (err: unknown) => isPorticoError(err) && err.code === 'PORTICO_ERR_INVALID_OPTION' && err.message.includes(`cannot read --ini ${file}`),
    );
  });
});
