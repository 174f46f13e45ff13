import { freePort } from './free-port.js';
import { porticoBin } from './paths.js';
import { startProcess, type Started } from './child-process.js';

export interface HttpFront {
  proc: Started;
  /** http://127.0.0.1:PORT, as the ready line reports it. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** Printed by the gateway (alone or under serve) once fastify is listening. */
const READY = /portico gateway \d+: http on (http:\/\/\S+)/;

async function startFront(command: string[], extra: string[]): Promise<HttpFront> {
  const port = await freePort();
  const proc = startProcess(process.execPath, [porticoBin, ...command, '--http', `127.0.0.1:${port}`, ...extra]);
  const m = await proc.waitFor(READY);
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
export function startServe(app: string, extra: string[] = []): Promise<HttpFront> {
  return startFront(['serve', app], extra);
}

/** `portico gateway --http 127.0.0.1:PORT --upstream U ...`: upstreams are `uwsgi://unix:PATH` specs. */
export function startGateway(upstreams: string[], extra: string[] = []): Promise<HttpFront> {
  return startFront(['gateway', ...upstreams.flatMap((u) => ['--upstream', u])], extra);
}

export { outputLine } from './child-process.js';
