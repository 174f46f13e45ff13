// portico's Response (installed as globalThis.Response before an app is imported): an app's
// `x instanceof Response` must hold for every Response it meets, its own light ones and Node's
// native ones alike (Next.js checks a route handler's `Response.json(...)` so, and refused it).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLightResponse, LightResponse, nativeResponse, realResponse } from '../../../../worker/adapters/fetch-response.js';

describe('LightResponse as the global Response', () => {
  it('instanceof holds for native Responses: Response.json/redirect/error, new Response(stream), and its own', () => {
    const Global = LightResponse as unknown as typeof Response;
    assert.ok(Global.json({ a: 1 }) instanceof Global);
    assert.ok(Global.redirect('http://127.0.0.1/x', 302) instanceof Global);
    assert.ok(Global.error() instanceof Global);
    assert.ok(new (nativeResponse())('native') instanceof Global);
    assert.ok(new Global('light') instanceof Global);
    assert.ok(new Global(new ReadableStream()) instanceof Global);
    for (const other of [{}, null, undefined, 'text', new Request('http://127.0.0.1/')]) assert.equal(other instanceof Global, false);
  });

  it('a subclass keeps the ordinary test (NextResponse extends Response)', () => {
    const Global = LightResponse as unknown as typeof Response;
    class Sub extends Global {}
    assert.ok(new Sub('x') instanceof Sub);
    assert.ok(new Sub('x') instanceof Global);
    assert.equal(new Global('x') instanceof Sub, false);
    assert.equal(Global.json({}) instanceof Sub, false);
  });

  it('realResponse tells its own from native ones', async () => {
    const light = new LightResponse('light') as unknown as Response;
    const native = nativeResponse().json({ n: 1 });
    assert.ok(isLightResponse(light));
    assert.equal(isLightResponse(native), false);
    assert.equal(realResponse(native), native);
    assert.equal(await realResponse(light).text(), 'light');
    assert.equal(await native.text(), '{"n":1}');
  });
});
