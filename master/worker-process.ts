import type { Duplex } from 'node:stream';
import { MANAGED_ENV } from '../common/managed-env.js';
import type { ManagedWorkerConfig, WorkerMessage } from '../worker/master-client.js';
import { ControlChannel, type WatchdogEvent } from './control-channel.js';
import { SupervisedProcess } from './supervised-process.js';

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
export class WorkerProcess extends SupervisedProcess<WorkerMessage> {
  readonly id: number;
  readonly socketPath: string | null;
  readonly control: ControlChannel;
  /** It runs a watchdog thread (ManagedWorkerConfig.watchdog): what stats, stacks and guards ask. */
  readonly watchdog: boolean;
  /** Set once the master decided to stop it; an exit without it is a crash. */
  retiring: RetireReason | null = null;
  /** Being replaced by a chain reload (status "reloading" in stats). */
  reloading = false;
  /** Its watchdog said the event loop is blocked, and has not said it answers again. */
  blocked = false;
  /** Killed for --harakiri: Date.now() when the request that ran too long began. */
  stuckSince: number | null = null;

  constructor(opts: SpawnOptions) {
    const config: ManagedWorkerConfig = { ...opts.config, listenFd: opts.listenFd === null ? null : LISTEN_FD, controlFd: CONTROL_FD };
    const onOutput = opts.onOutput;
    super({
      entry: opts.main,
      argv: opts.argv,
      fds: [opts.listenFd ?? 'ignore', 'pipe', 'ipc'],
      env: { ...process.env, [MANAGED_ENV]: JSON.stringify(config) },
      readyType: 'portico:ready',
      onMessage: (m) => opts.onMessage(this, m),
      onOutput: onOutput && ((line) => onOutput(this, line)),
      notReady: { what: `worker ${opts.config.id}`, code: 'PORTICO_ERR_APP_LOAD' },
    });
    this.id = opts.config.id;
    this.socketPath = opts.socketPath;
    this.watchdog = opts.config.watchdog;
    this.control = new ControlChannel(this.child.stdio[CONTROL_FD] as Duplex, (e) => opts.onEvent(this, e));
  }

  /** Stops it (see terminate) for `reason`, unless it was already retiring for another. */
  stop(reason: RetireReason, graceMs: number): Promise<void> {
    this.retiring ??= reason;
    return this.terminate(graceMs);
  }
}
