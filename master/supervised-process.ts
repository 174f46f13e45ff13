import { fork, type ChildProcess } from 'node:child_process';
import { PorticoError, type ErrorCode } from '../common/errors.js';
import { eachLine } from '../common/stream-lines.js';

export interface SupervisedSpawn<M> {
  entry: string;
  argv: string[];
  /** Its fds from 3 on (stdin is ignored, stdout and stderr go to onOutput or are inherited). */
  fds: Array<number | 'ignore' | 'pipe' | 'ipc'>;
  env: NodeJS.ProcessEnv;
  /** The IPC message that says it accepts. */
  readyType: string;
  onMessage: (m: M, handle: unknown) => void;
  /** Each line it writes to stdout or stderr (else they are the master's own). */
  onOutput?: (line: string) => void;
  /** What an exit before that message is: `what` and its error code. */
  notReady: { what: string; code: ErrorCode };
}

/** A process the master forked (a worker, a gateway process): started, ready, stopped, gone. */
export class SupervisedProcess<M extends { type?: string }> {
  readonly child: ChildProcess;
  readonly spawnedAt = Date.now();
  readonly ready: Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  isReady = false;

  constructor(o: SupervisedSpawn<M>) {
    const out = o.onOutput ? 'pipe' : 'inherit';
    this.child = fork(o.entry, o.argv, { stdio: ['ignore', out, out, ...o.fds], env: o.env });
    const onOutput = o.onOutput;
    if (onOutput) for (const stream of [this.child.stdout, this.child.stderr]) eachLine(stream, onOutput);
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    this.ready = new Promise((resolve, reject) => {
      this.child.on('message', (m: M, handle: unknown) => {
        if (m?.type === o.readyType) {
          this.isReady = true;
          resolve();
        }
        o.onMessage(m, handle);
      });
      void this.exited.then(({ code, signal }) => {
        if (!this.isReady) reject(new PorticoError(o.notReady.code, `${o.notReady.what} exited (${signal ?? `code ${code}`}) before it was ready`));
      });
    });
    // A failed start is handled by whoever awaits ready; never an unhandled rejection.
    this.ready.catch(() => {});
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  signal(sig: NodeJS.Signals): void {
    if (this.alive) this.child.kill(sig);
  }

  /** SIGTERM (finish in-flight requests, then exit), SIGKILL once `graceMs` have passed; resolves at the exit. */
  protected async terminate(graceMs: number): Promise<void> {
    if (!this.alive) return;
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
