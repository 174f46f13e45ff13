import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GATEWAY_SITE, startNginx, type Nginx } from '../../../support/nginx.js';
import { fixturesDir } from '../../../support/paths.js';
import { startServe, type HttpFront } from '../../support/portico-gateway.js';
import { makeTmpDir } from '../../../support/tmp-dir.js';
import { needPeer, nginxMissing } from '../../support/peers.js';

describe('nginx proxy_pass → portico gateway → workers (deploy/nginx/portico-gateway-locations.conf)', { skip: needPeer(nginxMissing()) }, () => {
  const tmp = makeTmpDir('nginx-gw');
  let serve: HttpFront;
  let nginx: Nginx;
  before(async () => {
    serve = await startServe(join(fixturesDir, 'environ-app.mjs'), ['--workers', '1']);
    nginx = await startNginx(tmp.path, `127.0.0.1:${serve.port}`, '', GATEWAY_SITE);
  });
  after(async () => {
    await nginx?.stop();
    await serve?.stop();
    tmp.cleanup();
  });

  it('the app sees the real client and Host through both hops, on kept-alive connections', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${nginx.url}/through/nginx?i=${i}`, { headers: { 'X-Forwarded-For': '198.51.100.7' } });
      assert.equal(res.status, 200);
      const env = (await res.json()) as Record<string, string>;
      // nginx replaces the client's X-Forwarded-For with $remote_addr: a client cannot forge it.
      assert.equal(env.REMOTE_ADDR, '127.0.0.1');
      assert.equal(env.HTTP_HOST, '127.0.0.1');
      assert.equal(env.REQUEST_URI, `/through/nginx?i=${i}`);
      assert.equal(env.REQUEST_SCHEME, 'http');
    }
    // keepalive 32 in the upstream block: nginx reused its connection to the gateway.
    assert.doesNotMatch(nginx.proc.output(), /\[(error|crit|alert|emerg)\]/);
  });

  it('streams a 4 MiB upload through nginx and the gateway to the app', async () => {
    const body = Buffer.alloc(4 * 1024 * 1024, 7);
    const res = await fetch(`${nginx.url}/upload`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(res.status, 200);
    const env = (await res.json()) as Record<string, string>;
    assert.equal(env.CONTENT_LENGTH, String(body.length));
  });
});
