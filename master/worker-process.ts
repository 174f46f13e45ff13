import { fork, type ChildProcess, type StdioOptions } from 'node:child_process';
import type { Duplex } from 'node:stream';
import { PorticoError } from '../common/errors.js';
import { eachLine } from '../common/stream-lines.js';
import { MANAGED_ENV, type ManagedWorkerConfig, type WorkerMessage } from '../worker/master-client.js';
import { ControlChannel, type WatchdogEvent } from './control-channel.js';

/** Why the master stops a worker (also the label of the restarts metric). */
export type RetireReason = 'harakiri' | 'max-requests' | 'rss' | 'reload' | 'scale-down' | 'cheaper-idle' | 'cheaper-rss' | 'shutdown';
export type ExitReason = RetireReason | 'crash';

export interface SpawnOptions {
  main: string;
  argv: string[];
  config: ManagedWorkerConfig;
  /** The shared listening socket's fd in the master (becomes fd 3 in the worker). */
  listenFd: number | null;
  /** Per-worker socket path under `portico serve`. */
  socketPath: string | null;
  onEvent: (w: WorkerProcess, e: WatchdogEvent) => void;
  onMessage: (w: WorkerProcess, m: WorkerMessage) => void;
  /** Each line the worker writes to stdout or stderr (else they are the master's own). */
  onOutput?: (w: WorkerProcess, line: string) => void;
}

const LISTEN_FD = 3;
const CONTROL_FD = 4;

/** One worker process as the master sees it: spawned, ready, retiring, gone. */
export class WorkerProcess {
  readonly id: number;
  readonly child: ChildProcess;
  readonly socketPath: string | null;
  readonly spawnedAt = Date.now();
  readonly control: ControlChannel;
  /** It runs a watchdog thread (ManagedWorkerConfig.watchdog): what stats, stacks and guards ask. */
  readonly watchdog: boolean;
  readonly ready: Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  isReady = false;
  /** Set once the master decided to stop it; an exit without it is a crash. */
  retiring: RetireReason | null = null;
  /** Being replaced by a chain reload (status "reloading" in stats). */
  reloading = false;
  /** Its watchdog said the event loop is blocked, and has not said it answers again. */
  blocked = false;
  /** Killed for --harakiri: Date.now() when the request that ran too long began. */
  stuckSince: number | null = null;

  constructor(opts: SpawnOptions) {
    this.id = opts.config.id;
    this.socketPath = opts.socketPath;
    const config: ManagedWorkerConfig = { ...opts.config, listenFd: opts.listenFd === null ? null : LISTEN_FD, controlFd: CONTROL_FD };
    const out = opts.onOutput ? 'pipe' : 'inherit';
    const stdio: StdioOptions = ['ignore', out, out, opts.listenFd ?? 'ignore', 'pipe', 'ipc'];
    this.child = fork(opts.main, opts.argv, { stdio, env: { ...process.env, [MANAGED_ENV]: JSON.stringify(config) } });
    const onOutput = opts.onOutput;
    if (onOutput) for (const stream of [this.child.stdout, this.child.stderr]) eachLine(stream, (line) => onOutput(this, line));
    this.watchdog = opts.config.watchdog;
    this.control = new ControlChannel(this.child.stdio[CONTROL_FD] as Duplex, (e) => opts.onEvent(this, e));
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    this.ready = new Promise((resolve, reject) => {
      this.child.on('message', (m: WorkerMessage) => {
        if (m?.type === 'portico:ready') {
          this.isReady = true;
          resolve();
        }
        opts.onMessage(this, m);
      });
      void this.exited.then(({ code, signal }) => {
        if (!this.isReady) reject(new PorticoError('PORTICO_ERR_APP_LOAD', `worker ${this.id} exited (${signal ?? `code ${code}`}) before it was ready`));
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

  /**
   * SIGTERM (finish in-flight requests, then exit) and SIGKILL once `graceMs` have passed without
   * an exit. Resolves at the exit.
   */
  async stop(reason: RetireReason, graceMs: number): Promise<void> {
    this.retiring ??= reason;
    if (!this.alive) return;
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  signal(sig: NodeJS.Signals): void {
    if (this.alive) this.child.kill(sig);
  }
}
