import { connect } from 'node:net';
import { PorticoError } from '../../common/errors.js';
import { defaults } from '../../config/defaults.js';
import { encodePacketHead } from './packet-encoder.js';
import { statusHasNoBody } from '../http/http-response.js';
import { buildRequestVars } from './request-vars.js';
import { httpServerRefusal, mayBeResponseStart, parseResponseHead, showBytes, type ResponseHead } from './response-head-parser.js';
import { connectOptions, parseSocketAddress } from '../socket-address.js';

export interface UwsgiRequestOptions {
  /** `PATH`, `unix:PATH` or `HOST:PORT` of a uwsgi server (a portico worker or real uWSGI). */
  socket: string;
  method?: string;
  /** Request target, e.g. `/path?query`. */
  path?: string;
  headers?: Array<[string, string]>;
  body?: Uint8Array | string;
  modifier1?: number;
  modifier2?: number;
  timeoutMs?: number;
}

export interface UwsgiResponse extends Omit<ResponseHead, 'size'> {
  body: Buffer;
}

/**
 * Sends one uwsgi request (like `uwsgi_curl`) and reads the HTTP response the server writes back,
 * which ends when the server closes the connection or after Content-Length bytes.
 */
export function uwsgiRequest(options: UwsgiRequestOptions): Promise<UwsgiResponse> {
  const addr = parseSocketAddress(options.socket);
  const body = typeof options.body === 'string' ? Buffer.from(options.body) : options.body;
  const headers = options.headers ?? [];
  if (!headers.some(([n]) => n.toLowerCase() === 'host')) {
    headers.unshift(['Host', addr.kind === 'tcp' ? `${addr.host}:${addr.port}` : 'localhost']);
  }
  const method = options.method ?? (body ? 'POST' : 'GET');
  const vars = buildRequestVars({
    method,
    uri: options.path ?? '/',
    headers,
    contentLength: body ? body.length : undefined,
    remoteAddr: '127.0.0.1',
    serverName: 'localhost',
    serverPort: addr.kind === 'tcp' ? addr.port : 80,
  });
  const head = encodePacketHead({ modifier1: options.modifier1 ?? 0, modifier2: options.modifier2 ?? 0, vars });

  return new Promise((resolve, reject) => {
    const socket = connect(connectOptions(addr));
    const chunks: Buffer[] = [];
    let received = 0;
    let parsed: ResponseHead | null = null;
    // Once settled, later calls change nothing: the promise keeps its first outcome.
    const finish = (err: Error | null, res?: UwsgiResponse): void => {
      socket.destroy();
      if (err) reject(err);
      else resolve(res!);
    };
    socket.setTimeout(options.timeoutMs ?? defaults.requestTimeoutMs, () => finish(new PorticoError('PORTICO_ERR_BAD_RESPONSE', 'timed out waiting for the response')));
    socket.on('connect', () => {
      socket.write(head);
      if (body && body.length > 0) socket.write(body);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (received > 0 && err.code === 'ECONNRESET') return onEnd();
      finish(new PorticoError('PORTICO_ERR_UPSTREAM_CONNECT', `${options.socket}: ${err.message}`, { cause: err }));
    });
    const onEnd = (): void => {
      const all = Buffer.concat(chunks, received);
      try {
        parsed ??= parseResponseHead(all);
        if (!parsed) throw new PorticoError('PORTICO_ERR_BAD_RESPONSE', received === 0 ? 'empty response' : 'connection closed inside the response head');
        // A HEAD response ends with its head: Content-Length there describes the GET body. Bytes
        // after it are not a body either (uWSGI writes the app's body for HEAD; nginx drops it).
        const isHead = method.toUpperCase() === 'HEAD';
        const resBody = isHead ? Buffer.alloc(0) : all.subarray(parsed.size);
        const declared = isHead ? undefined : contentLengthOf(parsed);
        if (declared !== undefined && resBody.length !== declared) {
          throw new PorticoError('PORTICO_ERR_BAD_RESPONSE', `body is ${resBody.length} bytes but Content-Length says ${declared}`);
        }
        const { size: _size, ...rest } = parsed;
        finish(null, { ...rest, body: resBody });
      } catch (err) {
        finish(err as Error);
      }
    };
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (parsed) return;
      const all = chunks.length === 1 ? chunk : Buffer.concat(chunks, received);
      // The same verdicts as the gateway's (gateway/forwarding/uwsgi-forwarder.ts): not a uwsgi server there.
      if (!mayBeResponseStart(all)) {
        return finish(
          new PorticoError(
            'PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL',
            `${options.socket} answered ${showBytes(all)}: no uwsgi response starts so (they start "HTTP/1."): is it a server of another protocol?`,
          ),
        );
      }
      try {
        parsed = parseResponseHead(all);
      } catch (err) {
        return finish(err as Error);
      }
      const refusal = parsed === null ? null : httpServerRefusal(parsed);
      if (refusal !== null) {
        finish(
          new PorticoError(
            'PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL',
            `${options.socket} answered the uwsgi request with ${refusal}, as an HTTP server refuses bytes it cannot read as a request: is it an HTTP server? give the app server's uwsgi socket`,
          ),
        );
      }
    });
    socket.on('end', onEnd);
  });
}

function contentLengthOf(head: ResponseHead): number | undefined {
  const h = head.headers.find(([n]) => n.toLowerCase() === 'content-length');
  if (!h || statusHasNoBody(head.status)) return undefined;
  if (!/^\d+$/.test(h[1])) throw new PorticoError('PORTICO_ERR_BAD_RESPONSE', `bad Content-Length ${JSON.stringify(h[1])}`);
  return Number(h[1]);
}
