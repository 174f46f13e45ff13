import { chownSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defaults } from '../config/defaults.js';
import { PorticoError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { OptionValues } from '../config/option-schema.js';
import type { MasterOptions } from '../master/master.js';
import type { RuntimeOptions } from '../master/master-runtime.js';
import { parseCronOptions } from '../master/cron-spec.js';
import { checkPidfileFree } from '../master/pidfile.js';
import { formatSocketAddress } from '../protocol/socket-address.js';
import { intOption, secondsOption } from './cli-values.js';
import { logFilesOption } from './log-options.js';
import { fileOption, listenAddressOption, type Privileges } from './option-checks.js';

/** The CLI entry the master's workers run. */
export const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

type Guards = Omit<MasterOptions, 'main' | 'workerArgv' | 'shared' | 'runDir' | 'log' | 'onReady' | 'onLeaving'>;

/** The master's settings from parsed options (aliases resolved: --workers, --timeout). */
export function masterGuards(values: OptionValues): Guards {
  const processes = intOption('processes', values.workers ?? values.processes, 1, defaults.maxProcesses) ?? defaults.processes;
  return {
    processes,
    ...cheaperSettings(values, processes),
    harakiriSeconds: secondsOption('harakiri', values.timeout ?? values.harakiri) ?? 0,
    harakiriGraceSeconds: secondsOption('harakiri-graceful-timeout', values['harakiri-graceful-timeout']) ?? defaults.harakiriGracefulTimeout,
    logSlowSeconds: secondsOption('log-slow', values['log-slow']) ?? 0,
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
    cheaper:
      min > 0
        ? {
            min,
            max: processes,
            step: Math.max(1, intOption('cheaper-step', values['cheaper-step']) ?? 1),
            overloadMs: (secondsOption('cheaper-overload', values['cheaper-overload']) ?? 3) * 1000,
            idleMs: (secondsOption('cheaper-idle', values['cheaper-idle']) ?? 10) * 1000,
            rssSoftBytes: (intOption('cheaper-rss-limit-soft', values['cheaper-rss-limit-soft']) ?? 0) * 1048576,
            rssHardBytes: (intOption('cheaper-rss-limit-hard', values['cheaper-rss-limit-hard']) ?? 0) * 1048576,
          }
        : null,
  };
}

/**
 * The master's side settings, checked before anything is bound: the addresses of --stats and
 * --metrics (a bare --stats port is loopback only), and the pidfiles' directories and owners.
 */
export function runtimeOptions(values: OptionValues): Pick<RuntimeOptions, 'pidfile' | 'pidfile2' | 'touchReload' | 'reload' | 'logRotate' | 'stats' | 'statsHideQuery' | 'metrics' | 'cron'> {
  const pidfile = values.pidfile as string | undefined;
  const pidfile2 = values.pidfile2 as string | undefined;
  for (const [flag, path] of [
    ['pidfile', pidfile],
    ['pidfile2', pidfile2],
  ] as const) {
    if (path === undefined) continue;
    fileOption(flag, path);
    checkPidfileFree(flag, path);
  }
  return {
    cron: parseCronOptions(values.cron as string[] | undefined, values['cron-app'] as string[] | undefined),
    pidfile,
    pidfile2,
    touchReload: values['touch-reload'] as string | undefined,
    reload: values.reload === true,
    logRotate: logFilesOption(values).rotate,
    stats: serverAddress('stats', values.stats as string | undefined, '127.0.0.1'),
    statsHideQuery: values['stats-hide-query'] === true,
    metrics: serverAddress('metrics', values.metrics as string | undefined),
  };
}

/** A side server's address, checked; a TCP one as it binds (a bare --stats port: 127.0.0.1:PORT). */
function serverAddress(flag: string, spec: string | undefined, barePortHost?: string): string | undefined {
  if (spec === undefined) return undefined;
  const address = listenAddressOption(flag, spec, { unix: true, barePortHost });
  return address.kind === 'tcp' ? formatSocketAddress(address) : spec;
}

/**
 * --uid / --gid: after the sockets are bound (ports below 1024, /run), give them to the new owner
 * so it can still remove them, then drop privileges for the master and every worker it forks:
 * supplementary groups first (root's group 0 must not stay), then the group, then the user.
 * Started as root without --uid: say so, as uWSGI does.
 */
export function dropPrivileges(privileges: Privileges, ownedPaths: string[], log: Logger): void {
  const { user, gid } = privileges;
  if (process.getuid?.() !== 0) {
    if (user || gid !== undefined) log.warn('--uid/--gid ignored: not running as root');
    return;
  }
  if (!user) log.warn('*** WARNING: you are running portico as root !!! (use the --uid flag) ***');
  if (!user && gid === undefined) return;
  const uid = user?.uid ?? process.getuid();
  for (const p of ownedPaths) chownSync(p, uid, gid ?? -1);
  if (gid !== undefined) {
    // initgroups(3): the user's own supplementary groups; Node has it, @types/node does not.
    if (user && !/^\d+$/.test(user.name)) (process as NodeJS.Process & { initgroups?(user: string, extraGroup: number): void }).initgroups?.(user.name, gid);
    else process.setgroups?.([gid]);
    process.setgid?.(gid);
  }
  if (user) process.setuid?.(user.uid);
  log.info(`dropped privileges to uid ${process.getuid?.()}, gid ${process.getgid?.()}, groups ${process.getgroups?.().join(',')}`);
}
