// Server-sent events from a fetch-style app: a tiny publish/subscribe channel.
//
//   npx portico worker examples/sse.mjs --socket /tmp/p.sock --chmod-socket 666 --processes 1
//   curl -N http://localhost/events                 # one terminal: stays open, prints each event
//   curl -d 'hello' http://localhost/publish        # another: every subscriber gets "hello"
//
// GET /events[?limit=N]  a text/event-stream; the stream ends after N messages if limit is given
// POST /publish          the body becomes one `data:` event for every open /events stream
//
// Two things make this work behind nginx:
// - `X-Accel-Buffering: no`: nginx buffers uwsgi responses (deploy/nginx keeps uwsgi_buffering
//   on, which is right for ordinary pages); this header turns buffering off for this response
//   only, so each event reaches the client when it is written, not when a buffer fills.
// - a comment line every 15 s: nginx's uwsgi_read_timeout (60 s in deploy/nginx) closes a stream
//   that says nothing for that long.
// Subscribers live in this process's memory, so run one worker process (--processes 1): with
// several, a publish reaches only the streams of the worker that took it. A stop or reload waits
// for open streams as for any request (--graceful-timeout), then cuts them; EventSource reconnects.

const HEARTBEAT_MS = 15_000;
const encoder = new TextEncoder();
/** Open streams: each is a function that sends one message to its client. */
const subscribers = new Set();
let nextId = 1;

function event(fields) {
  // A multi-line message is several data: lines, which the client joins back with \n.
  const data = String(fields.data).split('\n').map((line) => `data: ${line}\n`).join('');
  return encoder.encode(`${fields.event ? `event: ${fields.event}\n` : ''}${fields.id ? `id: ${fields.id}\n` : ''}${data}\n`);
}

function subscribe(request, limit) {
  let sent = 0;
  let cleanup = () => {};
  const body = new ReadableStream({
    start(controller) {
      const heartbeat = setInterval(() => controller.enqueue(encoder.encode(': heartbeat\n\n')), HEARTBEAT_MS);
      const send = (message) => {
        controller.enqueue(event({ id: message.id, data: message.data }));
        if (++sent === limit) {
          cleanup();
          controller.close();
        }
      };
      cleanup = () => {
        clearInterval(heartbeat);
        subscribers.delete(send);
      };
      // The client went away (closed the tab, nginx gave up): forget the stream.
      request.signal.addEventListener('abort', () => cleanup(), { once: true });
      subscribers.add(send);
      // Tells the client it is subscribed: anything published from now on reaches it.
      controller.enqueue(event({ event: 'ready', data: `${subscribers.size} subscriber(s)` }));
    },
    cancel() {
      cleanup();
    },
  });
  return new Response(body, {
    headers: {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache',
      'X-Accel-Buffering': 'no',
    },
  });
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === '/events' && request.method === 'GET') {
      const limit = Number(url.searchParams.get('limit') ?? Infinity);
      return subscribe(request, limit > 0 ? limit : Infinity);
    }
    if (url.pathname === '/publish' && request.method === 'POST') {
      const message = { id: nextId++, data: await request.text() };
      // A copy: a stream that reaches its limit leaves the set while we go through it.
      const targets = [...subscribers];
      for (const send of targets) send(message);
      return Response.json({ id: message.id, delivered: targets.length });
    }
    return new Response('not found\n', { status: 404 });
  },
};
