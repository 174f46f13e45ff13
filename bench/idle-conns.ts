/**
 * `node dist-test/bench/idle-conns.js PORT N`: opens N keep-alive connections to 127.0.0.1:PORT, sends
 * one GET / on each and reads its answer, then holds them all idle; prints `{"open":N}` once they
 * are, and closes them when SIGTERM comes. Run under `ulimit -n` above N (bench/scale-bench.ts).
 */
import { connect, type Socket } from 'node:net';

const port = Number(process.argv[2]);
const total = Number(process.argv[3]);
const BATCH = 200;
const sockets: Socket[] = [];

function open(): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: bench\r\n\r\n'));
    s.once('data', () => resolve());
    s.once('error', reject);
    s.once('close', () => reject(new Error('closed before it answered')));
    sockets.push(s);
  });
}

for (let done = 0; done < total; done += BATCH) {
  await Promise.all(Array.from({ length: Math.min(BATCH, total - done) }, open));
}
let closed = 0;
for (const s of sockets) {
  s.removeAllListeners('close');
  s.on('close', () => closed++);
  s.on('error', () => {});
}
process.stdout.write(`${JSON.stringify({ open: sockets.length })}\n`);
process.on('SIGTERM', () => {
  process.stdout.write(`${JSON.stringify({ closedByServer: closed })}\n`);
  for (const s of sockets) s.destroy();
  process.exit(0);
});
