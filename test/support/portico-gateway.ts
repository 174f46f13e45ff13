import { freePort } from '../../support/free-port.js';
import { porticoBin } from '../../support/paths.js';
import { startProcess, type Started } from '../../support/child-process.js';

export interface HttpFront {
  proc: Started;
  /** http://127.0.0.1:PORT, as the ready line reports it. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** Printed by the gateway alone once fastify is listening. */
const GATEWAY_READY = /portico gateway \d+: http on (http:\/\/\S+)/;
/** Printed by serve's master once every worker accepts behind the listening gateway. */
const SERVE_READY = /portico master \d+: \d+ worker\(s\) of .* behind (http:\/\/\S+)/;

async function startFront(command: string[], extra: string[], env?: NodeJS.ProcessEnv): Promise<HttpFront> {
  const port = await freePort();
  const proc = startProcess(process.execPath, [porticoBin, ...command, '--http', `127.0.0.1:${port}`, ...extra], env ? { env } : {});
  const m = await proc.waitFor(command[0] === 'serve' ? SERVE_READY : GATEWAY_READY);
  return {
    proc,
    url: m[1]!,
    port,
    async stop() {
      await proc.stop();
    },
  };
}

/** `portico serve APP --http 127.0.0.1:PORT ...extra`: workers and the gateway, ready to take requests. */
export function startServe(app: string, extra: string[] = [], env?: NodeJS.ProcessEnv): Promise<HttpFront> {
  // One worker unless the test asks for more: the default (2 x cores + 1) is for production.
  const workers = extra.some((a) => /^--(workers|processes)$/.test(a)) ? [] : ['--workers', '1'];
  return startFront(['serve', app], [...workers, ...extra], env);
}

/** `portico gateway --http 127.0.0.1:PORT --upstream U ...`: upstreams are `uwsgi://unix:PATH` specs. */
export function startGateway(upstreams: string[], extra: string[] = [], env?: NodeJS.ProcessEnv): Promise<HttpFront> {
  return startFront(['gateway', ...upstreams.flatMap((u) => ['--upstream', u])], extra, env);
}

export { outputLine } from '../../support/child-process.js';
