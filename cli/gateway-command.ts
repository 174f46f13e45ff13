import { loadCommandConfig } from '../config/config-resolve.js';
import { CONFIG_FOOTER, formatHelp, gatewayOptions, type OptionValues } from '../config/option-schema.js';
import { GatewayServer, type GatewayOptions } from '../gateway/gateway-server.js';
import { parseStaticMount } from '../gateway/static/static-mounts.js';
import { intOption, logFormatOption, waitForStopSignals } from './cli-values.js';
import { rotateBySize } from '../common/log-rotation.js';
import { logFilesOption } from './log-options.js';
import { listenAddressOption, upstreamOption } from './option-checks.js';
import { otelSettings } from '../common/otel-config.js';

const USAGE = 'Usage: portico gateway --http HOST:PORT|unix:PATH --upstream uwsgi://unix:PATH|portico://unix:PATH [--upstream ...] [--static /prefix=DIR]...';

export async function gatewayCommand(argv: string[]): Promise<number> {
  const { values } = loadCommandConfig('gateway', argv);
  if (values.help) {
    process.stdout.write(formatHelp(USAGE, gatewayOptions, CONFIG_FOOTER));
    return 0;
  }
  if (!values.http || !values.upstream?.length) {
    process.stderr.write(`${USAGE}\n\nportico gateway: --http and at least one --upstream are required\n`);
    return 2;
  }
  // Before anything binds: a bad value is one line and a non-zero exit.
  listenAddressOption('http', values.http, { unix: true });
  for (const u of values.upstream) upstreamOption(u);
  const logs = logFilesOption(values);
  const gateway = new GatewayServer(gatewayOptionsFrom(values.http, values.upstream, values));
  await gateway.start();
  // logrotate's postrotate sends SIGUSR1, as to the master (Node would otherwise start its inspector).
  const reopen = (message?: string): void => gateway.log.reopen(message);
  process.on('SIGUSR1', () => reopen('SIGUSR1: log files reopened'));
  const rotation = logs.rotate.length ? rotateBySize(logs.rotate, reopen) : null;
  await waitForStopSignals(
    gateway.log,
    () => gateway.stop(),
    () => 0,
  );
  if (rotation) clearInterval(rotation);
  return 0;
}

export function gatewayOptionsFrom(http: string, upstreams: string[], values: OptionValues): GatewayOptions {
  const logs = logFilesOption(values);
  return {
    http,
    upstreams,
    statics: ((values.static as string[] | undefined) ?? []).map(parseStaticMount),
    plugins: values['gateway-plugin'] as string[] | undefined,
    trustedProxies: values['trusted-proxies'] as string[] | undefined,
    upstreamTimeout: intOption('upstream-timeout', values['upstream-timeout']),
    bodyLimit: intOption('body-limit', values['body-limit']),
    limitRequestLine: intOption('limit-request-line', values['limit-request-line']),
    limitRequestFields: intOption('limit-request-fields', values['limit-request-fields']),
    limitRequestFieldSize: intOption('limit-request-field-size', values['limit-request-field-size']),
    headersTimeout: intOption('headers-timeout', values['headers-timeout']),
    requestTimeout: intOption('request-timeout', values['request-timeout']),
    keepAliveTimeout: intOption('keepalive-timeout', values['keepalive-timeout']),
    maxConnections: intOption('max-connections', values['max-connections']),
    upstreamConcurrency: intOption('upstream-concurrency', values['upstream-concurrency']),
    upstreamLinks: intOption('upstream-links', values['upstream-links']),
    listen: intOption('listen', values.listen),
    logFormat: logFormatOption(values['log-format']),
    logto: logs.main,
    requestLogto: logs.requests,
    // In front of anything (real uWSGI, say), the gateway's log is the only one with every request.
    accessLog: 'all',
    otel: otelSettings(values.otel as boolean | undefined),
  };
}
