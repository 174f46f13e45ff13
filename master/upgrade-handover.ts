import type { Socket } from 'node:net';
import { UPGRADE_HANDOVER, type UpgradeHandoverMessage, type WorkerMessage } from '../worker/master-client.js';
import type { WorkerProcess } from './worker-process.js';

/**
 * `portico serve`: the gateway (in this process) gives an upgrade's client connection to the
 * worker it chose, over that worker's IPC channel with the descriptor (the gateway's
 * UpgradeHandOff). The connection is the worker's from then on; this counts those still open, by
 * the workers' reports and their exits, so that they keep counting towards --max-connections.
 */
export class UpgradeHandover {
  private readonly byLabel = new Map<string, WorkerProcess>();
  private readonly held = new Map<WorkerProcess, number>();
  open = 0;
  /** `open` changed (--gateway-processes: each gateway process counts its share). */
  onChange: (() => void) | null = null;

  /** The worker behind the gateway's upstream `label` takes upgrades from now on. */
  add(label: string, w: WorkerProcess): void {
    this.byLabel.set(label, w);
    if (this.held.has(w)) return;
    this.held.set(w, 0);
    w.child.on('message', (m: WorkerMessage) => {
      if (m?.type === 'portico:upgrade-closed') this.release(w, 1);
    });
    void w.exited.then(() => {
      this.release(w, this.held.get(w) ?? 0);
      this.held.delete(w);
    });
  }

  /** The upstream leaves the gateway's pool: no new upgrades (those it holds stay counted until they close). */
  remove(label: string): void {
    this.byLabel.delete(label);
  }

  reaches(label: string): boolean {
    return this.byLabel.has(label);
  }

  send(label: string, socket: Socket, packet: Buffer, rest: Buffer, done: (err: Error | null) => void): void {
    const w = this.byLabel.get(label);
    if (w === undefined || !w.alive || !w.child.connected) return done(new Error('its process is gone'));
    const message: UpgradeHandoverMessage = { type: UPGRADE_HANDOVER, packet: packet.toString('base64'), rest: rest.toString('base64') };
    // Counted now: the worker's report of its close cannot come before this.
    this.held.set(w, (this.held.get(w) ?? 0) + 1);
    this.open++;
    this.onChange?.();
    // keepOpen false: once sent, the gateway's copy of the descriptor is closed.
    w.child.send(message, socket, { keepOpen: false }, (err) => {
      if (err) this.release(w, 1);
      done(err);
    });
  }

  private release(w: WorkerProcess, n: number): void {
    const held = this.held.get(w) ?? 0;
    const k = Math.min(n, held);
    this.held.set(w, held - k);
    this.open -= k;
    if (k > 0) this.onChange?.();
  }
}
