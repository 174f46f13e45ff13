import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../../common/logger.js';
import type { AccessLog } from './access-log.js';
import { refusalLog } from './connection-guard.js';
import { admitRequest, checkHead, refuseConnect, serverLimitOptions, type HttpLimits } from './http-limits.js';
import { LeanFront, type LeanFrontOptions } from './lean-front.js';

export interface HttpFrontOptions {
  limits: HttpLimits;
  log: Logger;
  access: AccessLog | null;
  /** The lean front's part; null when every request must go through fastify (a --gateway-plugin). */
  lean: Omit<LeanFrontOptions, 'limits' | 'log' | 'access'> | null;
  /** A connection asking to upgrade (a WebSocket handshake): gateway/forwarding/upgrade-forwarder.ts. */
  upgrade: (req: IncomingMessage, socket: Socket, head: Buffer) => void;
}

/** The server fastify listens with, and the lean front on it (null without one). */
export interface HttpFront {
  server: Server;
  lean: LeanFront | null;
}

/**
 * The gateway's HTTP server, made for fastify by its `serverFactory`: every listener is set here,
 * once, on a server nothing else has touched. Where a request goes:
 *
 * - a connection starts on the lean front when there is one (no --gateway-plugin): it answers what
 *   it may without node:http's objects (gateway/front/lean-front.ts, LeanFront.accept: forwarded
 *   requests and cached static files) and hands the connection to node:http for anything else;
 * - without a lean front, every connection is node:http's;
 * - node:http's requests pass the limit checks (http-limits.ts), then go to fastify's handler:
 *   its hooks (the user's plugins, the static cache), @fastify/static, the forwarding route;
 * - an upgrade goes to the upgrade forwarder, a CONNECT is refused; what node:http's parser refuses
 *   goes to fastify's clientErrorHandler (the gateway gives it http-limits.ts's onClientError).
 */
export function createHttpFront(fastifyHandler: (req: IncomingMessage, res: ServerResponse) => void, o: HttpFrontOptions): HttpFront {
  const { limits, log, access } = o;
  // With the timeouts fastify's own server factory sets (createServer takes them since Node 18).
  const server = createServer(serverLimitOptions(limits));
  // Lets the field count see one field past the limit (Node would drop any beyond it silently, 2000 by default).
  server.maxHeadersCount = limits.fields + 1;
  let lean: LeanFront | null = null;
  if (o.lean !== null) {
    // node:http's own connection listener, the only one on the server just made: the lean front
    // takes each connection first and hands it there when node:http must answer.
    const nodeConnection = server.listeners('connection')[0] as (socket: Socket) => void;
    server.removeListener('connection', nodeConnection);
    const front = new LeanFront(server, nodeConnection, { ...o.lean, limits, log, access });
    lean = front;
    server.on('connection', (socket: Socket) => front.connect(socket));
    // The front's guard caps connections (closing idle ones to make room): node:http's cap would
    // refuse a client at accept before the guard could.
  } else {
    server.maxConnections = limits.maxConnections;
    const refusals = refusalLog(log, limits.maxConnections);
    server.on('drop', (data?: { remoteAddress?: string }) => refusals.note(data?.remoteAddress));
  }
  const guard = lean?.guard ?? null;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (res.socket === null) closeWithConnection(req.socket, res);
    // Which handed-off connections have a request in progress (never closed to make room).
    guard?.headComplete(req.socket, res);
    if (admitRequest(req, res, limits, log, access)) fastifyHandler(req, res);
  });
  // node:http answers `Expect: 100-continue` itself before 'request' unless someone listens here:
  // a body the limits already refuse (a Content-Length past --body-limit) must get its 413 alone,
  // not a 100 Continue inviting the client to send it.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (checkHead(req, limits) === null) res.writeContinue();
    server.emit('request', req, res);
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    // An upgraded connection is in progress until it closes: never one to close to make room.
    guard?.headComplete(socket, socket);
    o.upgrade(req, socket, head);
  });
  server.on('connect', (req: IncomingMessage, socket: Socket) => refuseConnect(req, socket, log));
  // Not at fastify's preClose: a client connecting meanwhile must still be timed out.
  if (guard !== null) server.once('close', () => guard.stop());
  return { server, lean };
}

/**
 * A response node:http queued behind the one before it (a pipelined request) gets its socket only
 * once that one is done. Should the connection close first, Node 20 never emits the queued
 * response's 'close' (Node 24 destroys it and does), and every forwarder hears that its client
 * went away from that 'close': the worker would keep the request, and its upstream slot, for good
 * (a request pipelined behind one node:http refuses, such as an HTTP/1.1 head without Host).
 * Here it is destroyed and closed with the connection, unless Node sees to it.
 */
function closeWithConnection(socket: Socket, res: ServerResponse): void {
  const onClose = (): void => {
    if (res.socket !== null || res.destroyed) return;
    // destroyed too: a forwarder that was connecting meanwhile checks it before it sends.
    res.destroy();
    res.emit('close');
  };
  socket.once('close', onClose);
  res.once('socket', () => socket.off('close', onClose));
}
