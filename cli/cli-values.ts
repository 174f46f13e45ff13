import { PorticoError } from '../common/errors.js';
import type { LogFormat, Logger } from '../common/logger.js';

export function intOption(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^\d+$/.test(value)) {
    throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--${name} must be a whole number, got ${String(value)}`);
  }
  return Number(value);
}

export function logFormatOption(value: unknown): LogFormat {
  if (value === undefined || value === 'text' || value === 'json') return value ?? 'text';
  throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--log-format must be text or json, got ${String(value)}`);
}

/**
 * SIGTERM: graceful stop (finish what is in flight); SIGTERM again, or SIGINT: stop now.
 * Resolves once the stop is done.
 */
export function waitForStopSignals(log: Logger, stop: (graceful: boolean) => Promise<void>, inFlight: () => number): Promise<void> {
  return new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals): void => {
      signals++;
      if (signals > 1 || sig === 'SIGINT') {
        log.info(`${sig}${signals > 1 ? ' again' : ''}: stopping now`);
        void stop(false).then(resolve);
        return;
      }
      log.info(`${sig}: graceful stop (${inFlight()} in flight)`);
      void stop(true).then(resolve);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
