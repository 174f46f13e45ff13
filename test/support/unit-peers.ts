import { EventEmitter, once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { Logger } from '../../common/logger.js';
import type { WorkerContext } from '../../worker/worker-context.js';

/** What an Exchange needs of its worker, for unit tests: no scoreboard, no request lines, no idle hooks. */
export function testWorkerContext(): WorkerContext {
  return {
    log: new Logger({ disableRequests: true }),
    bufferSize: 4096,
    chunkedInputTimeoutMs: 4000,
    handler: () => {},
    requests: 0,
    inFlight: 0,
    onIdle: null,
    onSettled: null,
    streamLinks: new Set(),
    upgraded: new Set(),
    scoreboard: null,
  };
}

/** Both ends of one loopback TCP connection, connected; the listener is closed already. */
export async function loopbackPair(): Promise<{ client: Socket; server: Socket }> {
  const listener = createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const client = connect((listener.address() as AddressInfo).port, '127.0.0.1');
  const [server] = (await once(listener, 'connection')) as [Socket];
  listener.close();
  if (client.connecting) await once(client, 'connect');
  return { client, server };
}

/** A stream's side that counts the pause() and resume() calls it gets (body backpressure under test). */
export class PauseCounter extends EventEmitter {
  paused = 0;
  resumed = 0;
  pause(): this {
    this.paused++;
    return this;
  }
  resume(): this {
    this.resumed++;
    return this;
  }
}
