import { Server, type Socket } from 'node:net';
import type { Master } from './master.js';
import { HANDOVER } from '../worker/master-client.js';
import type { WorkerProcess } from './worker-process.js';

/**
 * `portico worker --cheap`: the shared socket must accept before any worker exists, so the master
 * listens on it too, holds what arrives (paused, unread) and starts the workers; each held
 * connection then goes to a worker over IPC with its descriptor. Node cannot stop accepting on a
 * socket without closing it, so the master keeps taking its share of later connections (about one
 * in N+1) and hands each one over the same way; the workers accept the rest themselves.
 */
export class CheapListener {
  private readonly server: Server;
  private readonly master: Master;
  private readonly held: Socket[] = [];
  private next = 0;

  constructor(master: Master) {
    this.master = master;
    this.server = new Server({ pauseOnConnect: true, allowHalfOpen: true }, (socket) => this.onConnection(socket));
  }

  listen(fd: number, backlog: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      // Node reads a backlog for an fd only from the second argument, never from the options.
      this.server.listen({ fd }, backlog, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** Connections waiting for the first worker (the --cheaper loop counts them as waiting). */
  get waiting(): number {
    return this.held.length;
  }

  /** A worker accepts: the held connections go to it. */
  workerReady(w: WorkerProcess): void {
    for (const socket of this.held.splice(0)) handOver(w, socket);
  }

  private onConnection(socket: Socket): void {
    socket.on('error', () => {});
    const ready = [...this.master.workers.values()].filter((w) => w.isReady && !w.retiring);
    if (ready.length === 0) {
      this.held.push(socket);
      this.master.demand();
      return;
    }
    handOver(ready[this.next++ % ready.length]!, socket);
  }
}

function handOver(w: WorkerProcess, socket: Socket): void {
  // keepOpen false: once sent, the master's copy of the descriptor is closed.
  w.child.send({ type: HANDOVER }, socket, { keepOpen: false }, (err) => {
    if (err) socket.destroy();
  });
}
