import { PorticoError } from '../common/errors.js';
import { compileLogFormat } from '../common/log-format.js';
import type { LogFormat, Logger } from '../common/logger.js';

/** A whole number, from `min` to `max` when they are given. */
export function intOption(name: string, value: unknown, min = 0, max = Infinity): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^\d+$/.test(value)) {
    throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--${name} must be a whole number, got ${String(value)}`);
  }
  const n = Number(value);
  if (n < min || n > max) throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--${name} must be ${min} to ${max}, got ${n}`);
  return n;
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
/** Signals that came while the process was still starting (holdStopSignals). */
const held: NodeJS.Signals[] = [];
/** A master holds a SIGINT during its start too: its workers must be stopped, not left behind. */
let master = false;
let installed = false;

function dispatchSignal(sig: NodeJS.Signals): void {
  if (onStopSignal) return onStopSignal(sig);
  // A worker's SIGINT, or SIGTERM twice, during the start: stop now, as once running.
  if (!master && (sig === 'SIGINT' || held.length > 0)) process.exit(sig === 'SIGINT' ? 130 : 143);
  held.push(sig);
}

/**
 * From the very start of a command, before the app is imported and the socket listened on: a
 * SIGTERM then (a supervisor, a master stopping a worker it just started) would otherwise kill
 * the process by the signal, half started; it is kept, and the graceful stop follows the start.
 */
export function holdStopSignals(isMaster = false): void {
  master ||= isMaster;
  if (installed) return;
  installed = true;
  process.on('SIGTERM', dispatchSignal);
  process.on('SIGINT', dispatchSignal);
}

/**
 * SIGTERM: graceful stop, `stop(true)` (finish what is in flight); SIGTERM again, or SIGINT: stop
 * now, `stop(false)`, during a graceful stop too. Resolves once a stop is done. Signals held since
 * the start are acted on now (a master's log says they came during the start).
 */
export function waitForStopSignals(log: Logger, stop: (graceful: boolean) => Promise<void>, inFlight?: () => number): Promise<void> {
  return new Promise<void>((resolve) => {
    let signals = 0;
    let when = master ? ' during the start' : '';
    onStopSignal = (sig: NodeJS.Signals): void => {
      signals++;
      if (signals > 1 || sig === 'SIGINT') {
        log.info(`${sig}${signals > 1 ? ' again' : when}: stopping now`);
        void stop(false).then(resolve);
        return;
      }
      log.info(`${sig}${when}: graceful stop${inFlight ? ` (${inFlight()} in flight)` : ''}`);
      void stop(true).then(resolve);
    };
    holdStopSignals();
    for (const sig of held.splice(0)) onStopSignal(sig);
    when = '';
  });
}
