import { chownSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { defaults } from '../common/defaults.js';
import { PorticoError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { OptionValues } from '../common/option-schema.js';
import type { MasterOptions } from '../worker/master/master.js';
import type { RuntimeOptions } from '../worker/master/master-runtime.js';
import { parseCronOptions } from '../worker/master/cron-spec.js';
import { intOption } from './cli-values.js';

/** The CLI entry the master's workers run. */
export const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

/** Seconds, whole or decimal (0.5). */
export function secondsOption(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^\d+(\.\d+)?$/.test(value)) {
    throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--${name} must be a number of seconds, got ${String(value)}`);
  }
  return Number(value);
}

type Guards = Omit<MasterOptions, 'main' | 'workerArgv' | 'shared' | 'runDir' | 'log' | 'onReady' | 'onLeaving'>;

/** The master's settings from parsed options (aliases resolved: --workers, --timeout). */
export function masterGuards(values: OptionValues): Guards {
  const processes = intOption('processes', values.workers ?? values.processes) ?? defaults.processes;
  if (processes < 1) throw new PorticoError('PORTICO_ERR_INVALID_OPTION', '--processes must be at least 1');
  return {
    processes,
    ...cheaperSettings(values, processes),
    harakiriSeconds: secondsOption('harakiri', values.timeout ?? values.harakiri) ?? 0,
    harakiriGraceSeconds: secondsOption('harakiri-graceful-timeout', values['harakiri-graceful-timeout']) ?? defaults.harakiriGracefulTimeout,
    maxRequests: intOption('max-requests', values['max-requests']) ?? 0,
    maxRequestsJitter: intOption('max-requests-jitter', values['max-requests-jitter']) ?? 0,
    reloadOnRssMb: intOption('reload-on-rss', values['reload-on-rss']) ?? 0,
    minWorkerLifetimeSeconds: secondsOption('min-worker-lifetime', values['min-worker-lifetime']) ?? defaults.minWorkerLifetime,
    gracefulTimeoutSeconds: secondsOption('graceful-timeout', values['graceful-timeout']) ?? defaults.gracefulTimeout,
  };
}

/**
 * --cheap and --cheaper: how many workers start at once, how many the first request starts, and
 * the adaptive pool's settings (--processes is its maximum).
 */
function cheaperSettings(values: OptionValues, processes: number): Pick<Guards, 'initialWorkers' | 'onDemandWorkers' | 'cheaper'> {
  const min = intOption('cheaper', values.cheaper) ?? 0;
  if (min > processes) throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `--cheaper ${min} is more than --processes ${processes}`);
  const initial = Math.min(processes, Math.max(min, intOption('cheaper-initial', values['cheaper-initial']) ?? min));
  const cheap = values.cheap === true;
  const pool = min > 0 ? initial : processes;
  return {
    initialWorkers: cheap ? 0 : pool,
    onDemandWorkers: Math.max(1, pool),
    cheaper: min > 0 ? {
      min,
      max: processes,
      step: Math.max(1, intOption('cheaper-step', values['cheaper-step']) ?? 1),
      overloadMs: (secondsOption('cheaper-overload', values['cheaper-overload']) ?? 3) * 1000,
      idleMs: (secondsOption('cheaper-idle', values['cheaper-idle']) ?? 10) * 1000,
      rssSoftBytes: (intOption('cheaper-rss-limit-soft', values['cheaper-rss-limit-soft']) ?? 0) * 1048576,
      rssHardBytes: (intOption('cheaper-rss-limit-hard', values['cheaper-rss-limit-hard']) ?? 0) * 1048576,
    } : null,
  };
}

export function runtimeOptions(values: OptionValues): Pick<RuntimeOptions, 'pidfile' | 'touchReload' | 'stats' | 'metrics' | 'cron'> {
  return {
    cron: parseCronOptions(values.cron as string[] | undefined, values['cron-app'] as string[] | undefined),
    pidfile: values.pidfile as string | undefined,
    touchReload: values['touch-reload'] as string | undefined,
    stats: values.stats as string | undefined,
    metrics: values.metrics as string | undefined,
  };
}

/**
 * --uid / --gid: after the sockets are bound (ports below 1024, /run), give them to the new owner
 * so it can still remove them, then drop privileges for the master and every worker it forks.
 * Started as root without --uid: say so, as uWSGI does.
 */
export function dropPrivileges(values: OptionValues, ownedPaths: string[], log: Logger): void {
  const uid = values.uid as string | undefined;
  const gid = values.gid as string | undefined;
  if (process.getuid?.() !== 0) {
    if (uid || gid) log.warn('--uid/--gid ignored: not running as root');
    return;
  }
  if (!uid) {
    log.warn('*** WARNING: you are running portico as root !!! (use the --uid flag) ***');
    return;
  }
  const numericUid = resolveId('-u', uid);
  const numericGid = gid ? resolveId('-g', gid, 'group') : resolveId('-g', uid);
  for (const p of ownedPaths) chownSync(p, numericUid, numericGid);
  process.setgid?.(numericGid);
  process.setuid?.(numericUid);
  log.info(`dropped privileges to uid ${numericUid}, gid ${numericGid}`);
}

/** A name or number to a number; `id(1)` resolves names the way the system does (NSS). */
function resolveId(flag: '-u' | '-g', value: string, db: 'passwd' | 'group' = 'passwd'): number {
  if (/^\d+$/.test(value)) return Number(value);
  try {
    if (db === 'group') return Number(execFileSync('getent', ['group', value], { encoding: 'utf8' }).split(':')[2]);
    return Number(execFileSync('id', [flag, value], { encoding: 'utf8' }).trim());
  } catch {
    throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `no such ${db === 'group' ? 'group' : 'user'}: ${value}`);
  }
}
