/**
 * The floor for any Node uwsgi worker, used by `npm run bench`: a net server on a unix socket that
 * reads until it has the 4-byte uwsgi header plus `datasize` bytes of vars, then writes a fixed
 * hello-world response and closes. No vars decoding, no app, no logging: whatever a real worker
 * does beyond this is what it costs.
 *
 *   node dist-test/bench/bare-responder.js SOCKET
 */
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';

const RESPONSE = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nHello World', 'latin1');

function serve(socket: Socket): void {
  let have = 0;
  let need = 4;
  let head: Buffer | null = null;
  let answered = false;
  socket.on('data', (chunk: Buffer) => {
    if (answered) return;
    have += chunk.length;
    if (need === 4) {
      // The header may arrive split; keep its first bytes until all four are here.
      head = head ? Buffer.concat([head, chunk]) : chunk;
      if (head.length < 4) return;
      need = 4 + (head[1]! | (head[2]! << 8));
      head = null;
    }
    if (have < need) return;
    answered = true;
    socket.end(RESPONSE);
  });
  socket.on('error', () => socket.destroy());
}

function main(): void {
  const path = process.argv[2];
  if (!path) {
    process.stderr.write('usage: node dist-test/bench/bare-responder.js SOCKET\n');
    process.exit(2);
  }
  if (existsSync(path)) unlinkSync(path);
  const server = createServer(serve);
  server.listen({ path, backlog: 100 }, () => {
    chmodSync(path, 0o666);
    process.stdout.write(`bare responder ${process.pid} listening on ${path}\n`);
  });
  const stop = (): void => {
    server.close(() => process.exit(0));
    // Connections nginx still holds open must not keep the process alive.
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
