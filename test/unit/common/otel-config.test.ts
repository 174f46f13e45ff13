// When tracing is on (common/otel-config.ts), read as the OpenTelemetry spec gives the OTEL_*
// variables; a protocol portico does not send is refused before anything binds; and a collector
// that cannot be reached costs one PORTICO_ERR_OTEL_EXPORT line, not the requests.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { otelSettings } from '../../../common/otel-config.js';
import { isPorticoError } from '../../../common/errors.js';
import { freePort } from '../../../support/free-port.js';
import { fixturesDir, porticoBin } from '../../../support/paths.js';
import { outputLine, startServe, type HttpFront } from '../../support/portico-gateway.js';

describe('otelSettings', () => {
  it('is off unless --otel, an exporter or an OTLP endpoint asks', () => {
    assert.equal(otelSettings(undefined, {}), null);
    assert.equal(otelSettings(false, { OTEL_SERVICE_NAME: 'x' }), null);
    assert.deepEqual(otelSettings(true, {}), { exporter: 'otlp', protocol: 'http/protobuf' });
    assert.deepEqual(otelSettings(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }), { exporter: 'otlp', protocol: 'http/protobuf' });
    assert.deepEqual(otelSettings(undefined, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' }), { exporter: 'otlp', protocol: 'http/protobuf' });
    assert.deepEqual(otelSettings(undefined, { OTEL_TRACES_EXPORTER: 'console' }), { exporter: 'console', protocol: 'http/protobuf' });
  });

  it('OTEL_SDK_DISABLED=true and OTEL_TRACES_EXPORTER=none turn it off, even with --otel', () => {
    assert.equal(otelSettings(true, { OTEL_SDK_DISABLED: 'true' }), null);
    assert.equal(otelSettings(true, { OTEL_TRACES_EXPORTER: 'none' }), null);
    assert.notEqual(otelSettings(true, { OTEL_SDK_DISABLED: 'false' }), null);
  });

  it('takes http/json from the traces variable first, and refuses grpc and unknown exporters', () => {
    assert.equal(otelSettings(true, { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' })?.protocol, 'http/json');
    assert.equal(otelSettings(true, { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' })?.protocol, 'http/json');
    for (const env of [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, { OTEL_TRACES_EXPORTER: 'zipkin' }]) {
      assert.throws(
        () => otelSettings(true, env),
        (err) => isPorticoError(err) && err.code === 'PORTICO_ERR_INVALID_OPTION',
      );
    }
  });
});

describe('portico serve --otel with a protocol it does not send', () => {
  it('exits 1 with one line, before anything binds', async () => {
    const port = await freePort();
    const r = spawnSync(process.execPath, [porticoBin, 'serve', join(fixturesDir, 'trace-apps', 'fetch.mjs'), '--http', `127.0.0.1:${port}`, '--otel'], {
      env: { ...process.env, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /PORTICO_ERR_INVALID_OPTION: .*OTEL_EXPORTER_OTLP_PROTOCOL=grpc/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack');
  });
});

describe('portico serve --otel with no collector listening', { timeout: 60_000 }, () => {
  let front: HttpFront | undefined;
  before(async () => {
    const nobody = await freePort();
    front = await startServe(join(fixturesDir, 'trace-apps', 'fetch.mjs'), ['--otel'], {
      // A short export timeout: the exporter retries a refused connection until it runs out.
      ...process.env,
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${nobody}`,
      OTEL_BSP_SCHEDULE_DELAY: '10',
      OTEL_EXPORTER_OTLP_TIMEOUT: '300',
    });
  });
  after(() => front?.stop());

  it('answers the requests and logs PORTICO_ERR_OTEL_EXPORT once per process, without a stack', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${front!.url}/x`)).status, 200);
    await outputLine(front!.proc, /PORTICO_ERR_OTEL_EXPORT: .*gateway \d+/);
    await outputLine(front!.proc, /PORTICO_ERR_OTEL_EXPORT: .*worker \d+/);
    assert.equal((await fetch(`${front!.url}/y`)).status, 200);
    const out = front!.proc.output();
    assert.equal(out.match(/PORTICO_ERR_OTEL_EXPORT: .*gateway/g)?.length, 1);
    assert.doesNotMatch(out, /\n\s+at /);
  });
});
