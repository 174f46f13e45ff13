// `--static` against a traversal corpus (issue 6, section 4): every spelling of "..", "/" and "\"
// that has let a path out of a web root somewhere (percent-encoded in both cases, double-encoded,
// overlong UTF-8, NUL), symlinks out of the root, Windows device names, trailing dots and spaces.
// Secrets sit OUTSIDE the root at every level a "../" could reach; their bytes must never come
// back. Also Range headers built to amplify (hundreds of ranges, overlapping ranges).
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fixturesDir } from '../../../support/paths.js';
import { startServe, type HttpFront } from '../../support/portico-gateway.js';
import { rawRequest, type RawResponse } from '../../support/raw-http.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';

const SECRET = 'SECRET-OUTSIDE-THE-ROOT-c41d9e';
/** /etc/passwd's first line on any Linux: a leak of a system file shows this. */
const PASSWD = 'root:x:0:0';
const REFUSED = [400, 403, 404];

// Spellings of "..", of a separator, and how they combine. Each is aimed at secret.txt one, two
// and three levels up: the root sits three directories below the temp dir, a secret in each.
const DOTS = [
  '..',
  '%2e%2e',
  '%2E%2E',
  '%2e%2E',
  '.%2e',
  '%2e.',
  '%252e%252e',
  '%252E%252E',
  '%c0%ae%c0%ae',
  '%C0%AE%C0%AE',
  '%e0%80%ae%e0%80%ae',
  '%c0%2e%c0%2e',
  '%uff0e%uff0e',
  '%%32%65%%32%65',
  '..%00',
  '%2e%2e%00',
  '...',
  '..;',
];
const SEPS = ['/', '%2f', '%2F', '%252f', '%252F', '%5c', '%5C', '%255c', '\\', '%c0%af', '%C0%AF', '%e0%80%af', '%c1%9c', '%c1%1c', '%25%32%66', '//', '/./', '/%2e/'];

function traversals(): string[] {
  const out: string[] = [];
  for (const dot of DOTS) {
    for (const sep of SEPS) {
      for (let depth = 1; depth <= 3; depth++) out.push(`/static/${`${dot}${sep}`.repeat(depth)}secret.txt`);
      out.push(`/static/sub/${`${dot}${sep}`.repeat(2)}secret.txt`);
    }
  }
  return out;
}

/** Things that are not traversals by shape but have served the wrong file somewhere. */
function oddities(outsideAbs: string): string[] {
  const names = ['CON', 'NUL', 'AUX', 'PRN', 'COM1', 'LPT1', 'con', 'aux.txt', 'nul.txt', 'CON.txt', 'com1.txt', 'CONIN$', 'CON:', 'a.txt::$DATA', 'a.txt:secret'];
  const trailing = [
    'a.txt.',
    'a.txt..',
    'a.txt%20',
    'a.txt%20.',
    'a.txt.%20',
    'a.txt%2e',
    'a.txt%09',
    'a~1.txt',
    'A.TXT',
    'a.txt/',
    'a.txt/.',
    'a.txt%2f',
    'sub.',
    'sub%20/index.html',
    'sub./index.html',
  ];
  const links = [
    'link-file',
    'link-file-rel',
    'link-chain',
    'link-dir/secret.txt',
    'link-dir/a/b/secret.txt',
    'sub/link-up/secret.txt',
    'link-etc/passwd',
    'link-passwd',
    'link-file.',
    'link-file%20',
    'LINK-FILE',
    'link-dir%2fsecret.txt',
    'link-dir%5csecret.txt',
    'link-dir/./secret.txt',
    'link-dir/',
    'sub/link-up/',
    'link-dir%00/secret.txt',
  ];
  const nul = ['a.txt%00', 'a.txt%00.html', '%00', '%00/secret.txt', 'link-file%00.txt', 'secret.txt%00'];
  const absolute = [
    `${outsideAbs}`,
    `/${outsideAbs}`,
    encodeURIComponent(outsideAbs),
    outsideAbs.replaceAll('/', '%5c'),
    '/etc/passwd',
    '%2fetc%2fpasswd',
    '%2Fetc/passwd',
    'file:///etc/passwd',
    'file:%2f%2f%2fetc%2fpasswd',
    '~/secret.txt',
    '~root/.bashrc',
  ];
  return [...names, ...trailing, ...links, ...nul, ...absolute].map((p) => `/static/${p}`);
}

/**
 * A request line as written, for what node:http will not send (raw spaces, NUL, absolute-form
 * targets): returns the status and every byte after the head, for the secret search.
 */
function rawLine(port: number, target: string): Promise<{ status: number; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = connect(port, '127.0.0.1', () => sock.end(Buffer.from(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`, 'latin1')));
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', reject);
    sock.on('close', () => {
      const all = Buffer.concat(chunks);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(all.toString('latin1'))?.[1] ?? NaN);
      resolve({ status, rest: all });
    });
  });
}

function leaks(body: Buffer): string | null {
  const text = body.toString('latin1');
  if (text.includes(SECRET)) return 'the secret outside the root';
  if (text.includes(PASSWD)) return '/etc/passwd';
  return null;
}

describe('gateway --static: traversal corpus and Range amplification', { timeout: 120_000 }, () => {
  const tmp = makeTmpDir('static-corpus');
  const root = join(tmp.path, 'a', 'b', 'public');
  const outsideAbs = join(tmp.path, 'a', 'b', 'secret.txt');
  const BIG_SIZE = 20_000;
  let serve: HttpFront | undefined;
  let base = '';

  before(
    async () => {
      mkdirSync(join(root, 'sub', 'deeper'), { recursive: true });
      for (const dir of [tmp.path, join(tmp.path, 'a'), join(tmp.path, 'a', 'b')]) writeFileSync(join(dir, 'secret.txt'), `${SECRET}\n`);
      writeFileSync(join(root, 'a.txt'), 'hello from a.txt\n');
      writeFileSync(join(root, 'sub', 'index.html'), '<h1>sub</h1>\n');
      writeFileSync(join(root, 'sub', 'deeper', 'b.txt'), 'b\n');
      writeFileSync(join(root, 'big.txt'), Buffer.alloc(BIG_SIZE, 'r'));
      symlinkSync(outsideAbs, join(root, 'link-file'));
      symlinkSync('../secret.txt', join(root, 'link-file-rel'));
      symlinkSync(join(root, 'link-file'), join(root, 'link-chain'));
      symlinkSync(tmp.path, join(root, 'link-dir'));
      symlinkSync('../../', join(root, 'sub', 'link-up'));
      symlinkSync('/etc', join(root, 'link-etc'));
      symlinkSync('/etc/passwd', join(root, 'link-passwd'));
      serve = await startServe(join(fixturesDir, 'fetch-app.mjs'), ['--workers', '1', '--static', `/static=${root}`]);
      base = serve.url;
    },
    { timeout: 30_000 },
  );

  after(async () => {
    await serve?.stop();
    tmp.cleanup();
  });

  test('controls: files in the root are served, plainly and percent-encoded', async () => {
    for (const [path, body] of [
      ['/static/a.txt', 'hello from a.txt\n'],
      ['/static/%61.txt', 'hello from a.txt\n'],
      ['/static/sub/deeper/b.txt', 'b\n'],
      ['/static/sub/', '<h1>sub</h1>\n'],
    ]) {
      const res = await rawRequest(base, path!);
      assert.equal(res.status, 200, path);
      assert.equal(res.body.toString(), body, path);
    }
  });

  /** Requests each path twice (the second may come from the static cache) and lists what went wrong. */
  async function check(paths: string[]): Promise<string[]> {
    const bad: string[] = [];
    for (const path of paths) {
      for (let round = 0; round < 2; round++) {
        let res: RawResponse;
        try {
          res = await rawRequest(base, path);
        } catch (err) {
          bad.push(`${path}: ${(err as Error).message}`);
          break;
        }
        const leaked = leaks(res.body);
        if (leaked) bad.push(`${path}: served ${leaked} (status ${res.status})`);
        else if (!REFUSED.includes(res.status)) bad.push(`${path}: status ${res.status}, body ${JSON.stringify(res.body.toString().slice(0, 120))}`);
      }
    }
    return bad;
  }

  test('encoded dots and separators in every form: 400/403/404, never the secret', async () => {
    const paths = traversals();
    assert.ok(paths.length > 1000, `corpus of ${paths.length}`);
    assert.deepEqual(await check(paths), []);
  });

  test('symlinks out of the root, device names, trailing dots and spaces, NUL, absolute paths', async () => {
    assert.deepEqual(await check(oddities(outsideAbs)), []);
  });

  test('request lines node:http will not write: raw NUL, space, backslashes, absolute-form targets', async () => {
    const targets = [
      '/static/..\\..\\secret.txt',
      '/static/\\..\\secret.txt',
      '/static/a.txt\0',
      '/static/..\0/secret.txt',
      '/static/a.txt /x',
      '/static/../secret.txt',
      `http://127.0.0.1/static/../secret.txt`,
      `http://127.0.0.1/static/%2e%2e/secret.txt`,
      `http://127.0.0.1${outsideAbs}`,
      `//static/../secret.txt`,
      '/static/link-file\t',
      '*',
    ];
    const bad: string[] = [];
    for (const t of targets) {
      const { status, rest } = await rawLine(serve!.port, t);
      const leaked = leaks(rest);
      if (leaked) bad.push(`${JSON.stringify(t)}: served ${leaked}`);
      // Outside /static/ the app answers (200 JSON echoing the path): only a leak matters there.
      else if (t.startsWith('/static/') && !REFUSED.includes(status)) bad.push(`${JSON.stringify(t)}: status ${status}`);
    }
    assert.deepEqual(bad, []);
  });

  // @fastify/send merges overlapping ranges and answers more than one range with the whole file
  // (200, no multipart), so no Range header can make a response larger than the file.
  const rangeCases: Array<[string, () => string]> = [
    ['500 disjoint one-byte ranges', () => Array.from({ length: 500 }, (_, i) => `${i * 2}-${i * 2}`).join(',')],
    ['500 copies of the whole file', () => Array.from({ length: 500 }, () => '0-').join(',')],
    ['500 overlapping sliding ranges', () => Array.from({ length: 500 }, (_, i) => `${i}-${i + BIG_SIZE / 2}`).join(',')],
    ['500 suffix ranges', () => Array.from({ length: 500 }, () => `-${BIG_SIZE}`).join(',')],
    ['ranges past the end and reversed', () => Array.from({ length: 300 }, (_, i) => (i % 2 ? `${BIG_SIZE * 10}-` : `${i + 10}-${i}`)).join(',')],
    ['700 ranges of the first kilobyte', () => Array.from({ length: 700 }, (_, i) => `${i % 512}-1023`).join(',')],
  ];
  for (const [name, spec] of rangeCases) {
    test(`Range with ${name}: 416, or one response no larger than the file`, async () => {
      // The plain answer first, so the file is in the static cache: ranges must still be safe there.
      assert.equal((await rawRequest(base, '/static/big.txt')).status, 200);
      const header = `bytes=${spec()}`;
      // Under the gateway's header-field limit (8190, gunicorn's), so it is @fastify/send that answers.
      assert.ok(header.length < 8000, `Range header of ${header.length} bytes`);
      const res = await rawRequest(base, '/static/big.txt', { headers: { Range: header } });
      assert.ok([200, 206, 416].includes(res.status), `status ${res.status}`);
      assert.doesNotMatch(res.headers['content-type'] ?? '', /multipart/);
      assert.ok(res.body.length <= BIG_SIZE, `${res.body.length} bytes for a ${BIG_SIZE}-byte file (Range header of ${header.length} bytes)`);
      if (res.status === 206) assert.match(res.headers['content-range'] ?? '', new RegExp(`^bytes \\d+-\\d+/${BIG_SIZE}$`));
    });
  }
});
