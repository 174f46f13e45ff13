import { PorticoError } from '../common/errors.js';
import { compileLogFormat } from '../common/log-format.js';
import type { LogFormat, Logger } from '../common/logger.js';

export function intOption(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^\d+$/.test(value)) {
    throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--${name} must be a whole number, got ${String(value)}`);
  }
  return Number(value);
}

/** Seconds, whole or decimal (0.5). */
export function secondsOption(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^\d+(\.\d+)?$/.test(value)) {
    throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--${name} must be a number of seconds, got ${String(value)}`);
  }
  return Number(value);
}

export function logFormatOption(value: unknown): LogFormat {
  if (value === undefined || value === 'text' || value === 'json') return value ?? 'text';
  // uWSGI's logformat template: compiled here so an unknown %(variable) is refused at start.
  if (typeof value === 'string' && value.includes('%(')) {
    compileLogFormat(value);
    return value;
  }
  throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--log-format must be text, json or a uWSGI logformat template with %(name) variables, got ${String(value)}`);
}

/**
 * SIGTERM and SIGINT have one handler each for the whole life of the process, which dispatches to
 * whoever is interested: removing a handler and adding another would drop a signal libuv already
 * took for the first and had not delivered yet (seen: a SIGTERM right after the start was lost).
 */
let onStopSignal: ((sig: NodeJS.Signals) => void) | null = null;
/** A SIGTERM that came while the process was still starting (holdStopSignals). */
let earlyStop: NodeJS.Signals | null = null;
let installed = false;

function dispatchSignal(sig: NodeJS.Signals): void {
  if (onStopSignal) return onStopSignal(sig);
  // SIGINT, or SIGTERM twice, during the start: stop now, as once running.
  if (sig === 'SIGINT' || earlyStop !== null) process.exit(sig === 'SIGINT' ? 130 : 143);
  earlyStop = sig;
}

function installStopSignals(): void {
  if (installed) return;
  installed = true;
  process.on('SIGTERM', dispatchSignal);
  process.on('SIGINT', dispatchSignal);
}

/**
 * From the very start of a command, before the app is imported and the socket listened on: a
 * SIGTERM then (a supervisor, a master stopping a worker it just started) would otherwise kill
 * the process by the signal, half started; it is kept, and the graceful stop follows the start.
 */
export function holdStopSignals(): void {
  installStopSignals();
}

/**
 * SIGTERM: graceful stop (finish what is in flight); SIGTERM again, or SIGINT: stop now.
 * Resolves once the stop is done. A SIGTERM held since the start is acted on now.
 */
export function waitForStopSignals(log: Logger, stop: (graceful: boolean) => Promise<void>, inFlight: () => number): Promise<void> {
  return new Promise<void>((resolve) => {
    let signals = 0;
    onStopSignal = (sig: NodeJS.Signals): void => {
      signals++;
      if (signals > 1 || sig === 'SIGINT') {
        log.info(`${sig}${signals > 1 ? ' again' : ''}: stopping now`);
        void stop(false).then(resolve);
        return;
      }
      log.info(`${sig}: graceful stop (${inFlight()} in flight)`);
      void stop(true).then(resolve);
    };
    installStopSignals();
    if (earlyStop !== null) {
      const sig = earlyStop;
      earlyStop = null;
      onStopSignal(sig);
    }
  });
}
