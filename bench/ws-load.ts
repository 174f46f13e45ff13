/**
 * The load of `BENCH_SUITE=websocket npm run bench`, in its own process: `ws-load.js URL CONNS
 * SECONDS` opens CONNS connections, each keeps one 64-byte message in flight (sent again as soon as
 * its echo comes), and prints `{"messages":N,"seconds":S}` after SECONDS. `ws-load.js URL CONNS
 * idle` opens CONNS connections, prints `open`, and holds them until stdin ends.
 */
import WebSocket from 'ws';

const [url, connsArg, secondsArg] = process.argv.slice(2);
const conns = Number(connsArg);
const payload = Buffer.alloc(64, 0x78);

function openOne(): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url!);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

// Opened in batches: a thousand handshakes at once would time out on a loaded two-core machine.
const sockets: WebSocket[] = [];
for (let i = 0; i < conns; i += 100) sockets.push(...(await Promise.all(Array.from({ length: Math.min(100, conns - i) }, openOne))));

if (secondsArg === 'idle') {
  console.log('open');
  process.stdin.resume();
  process.stdin.once('end', () => {
    for (const ws of sockets) ws.terminate();
    process.exit(0);
  });
} else {
  let messages = 0;
  let running = true;
  for (const ws of sockets) {
    ws.on('message', () => {
      messages++;
      if (running) ws.send(payload);
    });
    ws.send(payload);
  }
  const started = process.hrtime.bigint();
  setTimeout(() => {
    running = false;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    console.log(JSON.stringify({ messages, seconds }));
    for (const ws of sockets) ws.terminate();
    process.exit(0);
  }, Number(secondsArg) * 1000);
}
