import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { PorticoError, isPorticoError, type ErrorCode } from '../../common/errors.js';
import { isFinalStatus, splitsHead } from '../../protocol/http/http-response.js';
import { isWebSocketUpgrade } from '../../protocol/http/upgrade.js';
import { encodePacketHead } from '../../protocol/uwsgi/packet-encoder.js';
import { parseResponseHead } from '../../protocol/uwsgi/response-head-parser.js';
import { FrameType, queueStreamRequest } from '../../protocol/link/index.js';
import { answeredByWorker, type AccessLog } from '../front/access-log.js';
import { REASON, clientHeaders, errorDetail, type ForwardContext } from './forward-common.js';
import { checkHead, clientErrorAnswer, toOriginForm, type HttpLimits } from '../front/http-limits.js';
import { varsForHttpRequest } from './http-request-vars.js';
import type { NativeLink, NativeLinkPool } from '../link/link-pool.js';
import type { InProcessApp } from './forward-types.js';
import { connectUpstream, upstreamSpec, type Upstream } from './upstream-pool.js';
import { StreamFlow } from './stream-flow.js';

/**
 * Upgrades (WebSocket handshakes, and any other protocol an app accepts with 101): node:http hands
 * over the client's socket with its `'upgrade'` event (gateway/front/http-front.ts), and the request goes to a worker as one
 * stream of the native link, whose frames then carry the connection both ways within
 * the stream's windows (docs/protocol.md): the client's bytes as REQUEST_BODY, the app's as
 * RESPONSE_BODY, a half-close as REQUEST_END / RESPONSE_END, a close as an abort. A slow reader
 * on either side holds back only its own stream. The app's answer decides: 101 and the socket
 * becomes the tunnel; anything else is written as the response and the connection closes.
 * A uwsgi upstream gets the upgrade as nginx's uwsgi_pass gives it (uwsgiTunnel, below).
 */
export function upgradeForwarder(ctx: ForwardContext, limits: HttpLimits, access: AccessLog | null, handOff: UpgradeHandOff | null): (req: IncomingMessage, socket: Socket, head: Buffer) => void {
  return (req, socket, head) => {
    socket.on('error', noop);
    const up: UpgradeContext = { ...ctx, access, handOff };
    forwardUpgrade(req, socket, head, up, limits).catch((err: unknown) => {
      refuse(socket, up, req, isPorticoError(err) ? err.code : 'PORTICO_ERR_UPSTREAM_ABORTED', isPorticoError(err) ? errorDetail(err) : String(err));
    });
  };
}

/**
 * Under `portico serve` the workers are the gateway's own children: an upgrade's connection goes to
 * the chosen worker itself, over its IPC channel with the descriptor (as the master's --cheap
 * listener hands over connections), and the gateway is out of its data path: the worker serves it
 * as a uwsgi connection from nginx, its frames pass between client and app with no hop between,
 * and it stays with that worker until it closes (or the worker's --graceful-timeout: 1001).
 */
export interface UpgradeHandOff {
  /**
   * The upstream (as --upstream names it) is a worker that takes connections this way. Only
   * WebSocket handshakes go: what else asks to upgrade (h2c) is answered as HTTP/1.1, which the
   * gateway frames.
   */
  reaches(label: string): boolean;
  /**
   * Sends the socket with the request as a uwsgi packet and the client's bytes that followed its
   * head; `done` gets an error when it did not go (the socket is then still the gateway's).
   */
  send(label: string, socket: Socket, packet: Buffer, rest: Buffer, done: (err: Error | null) => void): void;
  /** Handed-over connections still open: they count towards --max-connections. */
  readonly open: number;
}

/** The forwarding context, and the access log: an upgrade gets its line when its connection closes. */
interface UpgradeContext extends ForwardContext {
  access: AccessLog | null;
  handOff: UpgradeHandOff | null;
}

async function forwardUpgrade(req: IncomingMessage, socket: Socket, head: Buffer, ctx: UpgradeContext, limits: HttpLimits): Promise<void> {
  const refusal = checkHead(req, limits) ?? toOriginForm(req);
  if (refusal) return refuse(socket, ctx, req, refusal[0], refusal[1]);
  if (ctx.inProcess) return upgradeInProcess(req, socket, head, ctx, ctx.inProcess);
  const gone = new AbortController();
  socket.once('close', () => gone.abort());
  // A socket.io session's upgrade goes to the worker that holds it (gateway/forwarding/sticky-sessions.ts).
  const pinned = ctx.sticky?.route(req.url, req.rawHeaders, ctx.pool.upstreams)?.pinned;
  const others = new Set(pinned === undefined ? [] : ctx.pool.upstreams.filter((u) => u !== pinned));
  let admission = ctx.pool.admit(others);
  if (admission.kind === 'busy') {
    if (ctx.pool.upstreams.length === 0) ctx.onNoUpstream?.();
    admission = await ctx.pool.wait(others, gone.signal);
  }
  if (admission.kind === 'gone') return;
  if (admission.kind !== 'upstream') return refuse(socket, ctx, req, 'PORTICO_ERR_QUEUE_FULL', 'no upstream free for the upgrade');
  const up = admission.upstream;
  if (ctx.handOff?.reaches(upstreamSpec(up)) && isWebSocketUpgrade(req.headers.connection, req.headers.upgrade) && stopReading(socket)) return handOver(req, socket, head, ctx, ctx.handOff, up);
  const links = up.link === 'native' ? ctx.native.get(up) : undefined;
  if (links === undefined) return uwsgiTunnel(req, socket, head, ctx, up);
  let link: NativeLink;
  try {
    link = await links.acquire(false, ctx.log);
  } catch (err) {
    ctx.pool.release(up);
    throw err;
  }
  if (socket.destroyed) {
    links.release(link);
    ctx.pool.release(up);
    return;
  }
  new Tunnel(req, socket, ctx, up, links, link).start(head);
}

/** The connection goes to the worker process behind `up` (UpgradeHandOff), with the request as nginx would send it. */
function handOver(req: IncomingMessage, socket: Socket, head: Buffer, ctx: UpgradeContext, handOff: UpgradeHandOff, up: Upstream): void {
  ctx.pool.release(up);
  if (socket.destroyed) return;
  // What node:http read past the head is sent along; nothing more is read here (stopReading).
  socket.pause();
  const { packet, rest } = handedRequest(req, socket, head, ctx);
  handOff.send(upstreamSpec(up), socket, packet, rest, (err) => {
    if (err) return refuse(socket, ctx, req, 'PORTICO_ERR_UPSTREAM_ABORTED', `the worker at ${up.label} did not take the upgrade: ${err.message}`);
    // The descriptor is the worker's; this object has none left: let the gateway forget it.
    socket.destroy();
  });
}

/**
 * The app is in this process (`portico worker --http-socket`): it takes the connection as a worker
 * takes one `portico serve` hands over, with the same packet, and answers on it itself.
 */
function upgradeInProcess(req: IncomingMessage, socket: Socket, head: Buffer, ctx: UpgradeContext, app: InProcessApp): void {
  if (socket.destroyed) return;
  // Not paused, unlike a socket handed to another process: node:http leaves an upgrade's socket
  // neither flowing nor paused, and the worker's 'data' listener (then the app's) must start it.
  const { packet, rest } = handedRequest(req, socket, head, ctx);
  socket.off('error', noop);
  app.upgrade(socket, packet, rest);
}

/**
 * What a worker takes an upgraded connection with: the request as a uwsgi packet (as nginx would
 * send it), and the client's bytes node:http read past its head.
 */
function handedRequest(req: IncomingMessage, socket: Socket, head: Buffer, ctx: UpgradeContext): { packet: Buffer; rest: Buffer } {
  const rest = [head];
  for (let chunk: Buffer | null; (chunk = socket.read() as Buffer | null) !== null; ) rest.push(chunk);
  return { packet: encodePacketHead({ vars: varsForHttpRequest(req, ctx, 0) }), rest: rest.length === 1 ? head : Buffer.concat(rest) };
}

/**
 * Stops reading the socket's descriptor before it goes to a worker. Node closes the gateway's copy
 * only once the worker acknowledges it, and until then whatever this process reads from it (the
 * client's first frames, sent as soon as the worker's 101 arrives) would be dropped. pause() does
 * not stop the reads (it only stops 'data' events), and Node has no public call that does: this is
 * libuv's readStop on the socket's handle, pinned on both Nodes by test/integration/websocket/websocket.test.ts. false
 * (the upgrade then takes the native link) where the handle has no readStop.
 */
function stopReading(socket: Socket): boolean {
  const handle = (socket as Socket & { _handle?: { readStop?: () => number } | null })._handle;
  if (typeof handle?.readStop !== 'function') return false;
  handle.readStop();
  return true;
}

/**
 * The head of a worker's answer to an upgrade, as the gateway writes it to the client: on a 101
 * the protocol the client asked for, on anything else the close that ends it (the framing is the
 * gateway's, hop-by-hop headers never cross), or the error that makes it a 502.
 */
function answerHead(req: IncomingMessage, status: number, reasonGiven: string, headers: readonly string[]): string | PorticoError {
  if (status !== 101 && !isFinalStatus(status)) return new PorticoError('PORTICO_ERR_BAD_RESPONSE', `status ${status} answers no upgrade`);
  const reason = reasonGiven || STATUS_CODES[status] || '';
  if (!REASON.test(reason)) return new PorticoError('PORTICO_ERR_BAD_RESPONSE', 'a control character in the reason phrase');
  let text = `HTTP/1.1 ${status} ${reason}\r\n`;
  text += status === 101 ? `Connection: Upgrade\r\nUpgrade: ${req.headers.upgrade ?? ''}\r\n` : 'Connection: close\r\n';
  for (let i = 0; i < headers.length; i += 2) {
    if (splitsHead(headers[i + 1]!) || splitsHead(headers[i]!)) return new PorticoError('PORTICO_ERR_BAD_RESPONSE', `a control character in header ${JSON.stringify(headers[i]!.slice(0, 64))}`);
    text += `${headers[i]!}: ${headers[i + 1]!}\r\n`;
  }
  return `${text}\r\n`;
}

function refuse(socket: Socket, ctx: UpgradeContext, req: IncomingMessage, code: ErrorCode, detail: string): void {
  const err = new PorticoError(code, detail);
  ctx.log.error(code, `${req.method} ${(req.url ?? '').slice(0, 256)}: ${err.message}`);
  ctx.access?.note(req, { statusCode: err.status });
  if (socket.writable) socket.end(clientErrorAnswer(code));
  else socket.destroy();
}

/** One upgraded connection on one stream of a native link, within the stream's windows (stream-flow.ts). */
class Tunnel extends StreamFlow {
  private readonly req: IncomingMessage;
  private readonly socket: Socket;
  private readonly ctx: UpgradeContext;
  private readonly up: Upstream;
  private readonly links: NativeLinkPool;
  private readonly link: NativeLink;
  private headWritten = false;
  /** RESPONSE_END came: the app ended its side; the client's may still be open (a half-close). */
  private responseEnded = false;
  /** Holding one of the upstream's request slots: only until the answer's head (a WebSocket may live for hours). */
  private slotHeld = true;

  constructor(req: IncomingMessage, socket: Socket, ctx: UpgradeContext, up: Upstream, links: NativeLinkPool, link: NativeLink) {
    super(link.writer);
    this.req = req;
    this.socket = socket;
    this.ctx = ctx;
    this.up = up;
    this.links = links;
    this.link = link;
  }

  start(head: Buffer): void {
    this.id = this.link.openStream(this);
    // No CONTENT_LENGTH: the "body" is the client's side of the connection, until REQUEST_END.
    queueStreamRequest(this.writer, this.id, varsForHttpRequest(this.req, this.ctx, undefined), false);
    if (head.length > 0) this.onData(head);
    this.socket.on('data', this.onData);
    this.socket.on('end', this.onEnd);
    this.socket.on('close', this.onClose);
    this.link.awaitHead(this.id, this, this.ctx.upstreamTimeoutMs);
  }

  frame(type: FrameType, payload: Buffer): void {
    switch (type) {
      case FrameType.ResponseHead:
        return this.head(payload);
      case FrameType.ResponseBody:
        return this.body(payload);
      case FrameType.ResponseEnd:
        this.responseEnded = true;
        this.socket.end();
        // A half-close: the stream stays until the client ends its side too (its REQUEST_END).
        if (!this.requestOpen) this.over();
        return;
      case FrameType.ResponseAbort:
        this.socket.destroy();
        return this.over();
      case FrameType.RequestCredit:
        return this.requestCredited(payload, this.socket);
      default:
        return;
    }
  }

  protected linkLost(err: PorticoError): void {
    this.freeSlot();
    if (this.headWritten) this.socket.destroy();
    else refuse(this.socket, this.ctx, this.req, 'PORTICO_ERR_UPSTREAM_ABORTED', err.message);
  }

  refused(): void {
    // GOAWAY before the worker took it: nothing of it reached an app, but the client's bytes may have gone; no second try.
    this.closed(new PorticoError('PORTICO_ERR_UPSTREAM_ABORTED', 'the worker is stopping and did not take the upgrade'));
  }

  headTimedOut(): void {
    this.fail('PORTICO_ERR_UPSTREAM_TIMEOUT', `no answer to the upgrade within ${this.ctx.upstreamTimeoutMs / 1000} s`);
  }

  private head(payload: Buffer): void {
    if (this.headWritten) return;
    this.link.headDone(this.id);
    this.freeSlot();
    let head;
    try {
      head = this.link.decodeHead(payload);
    } catch (err) {
      if (!isPorticoError(err)) throw err;
      return this.fail(err.code, err.message);
    }
    const status = head.status;
    const text = answerHead(this.req, status, head.reason, head.headers);
    if (text instanceof PorticoError) return this.fail(text.code, errorDetail(text));
    this.headWritten = true;
    this.socket.write(text, 'latin1');
    // The access line when the connection is over, as nginx writes a WebSocket's (the worker logs
    // it too: under portico serve the gateway leaves it to the worker).
    const answer = { statusCode: status };
    answeredByWorker(answer);
    this.socket.once('close', () => this.ctx.access?.note(this.req, answer));
    if (status !== 101) this.stopRequest();
  }

  private body(payload: Buffer): void {
    if (!this.headWritten) return;
    this.passResponseBytes(payload, this.socket);
  }

  private readonly onData = (chunk: Buffer): void => {
    if (!this.requestOpen) return;
    this.sendRequestBytes(chunk, this.socket);
  };

  private readonly onEnd = (): void => {
    if (!this.requestOpen || !this.responseOpen) return;
    this.requestOpen = false;
    this.writer.frame(FrameType.RequestEnd, this.id);
    if (this.responseEnded) this.over();
  };

  private readonly onClose = (): void => {
    if (!this.responseOpen) return;
    if (this.responseEnded && !this.requestOpen) return this.over();
    // The client went away: the worker hears REQUEST_ABORT and the app's socket closes.
    this.queueAbort('client went away');
    this.over();
  };

  private fail(code: ErrorCode, detail: string): void {
    if (this.responseOpen) this.queueAbort(detail.slice(0, 256));
    this.over();
    if (this.headWritten) {
      this.ctx.log.error(code, `${this.req.method} ${(this.req.url ?? '').slice(0, 256)} via ${this.up.label}: ${new PorticoError(code, detail).message}`);
      this.socket.destroy();
    } else refuse(this.socket, this.ctx, this.req, code, `${detail} (${this.up.label})`);
  }

  private stopRequest(): void {
    this.requestOpen = false;
    this.socket.off('data', this.onData);
  }

  private over(): void {
    if (!this.responseOpen) return;
    this.responseOpen = false;
    this.stopRequest();
    this.link.headDone(this.id);
    this.link.closeStream(this.id);
    this.links.release(this.link);
    this.freeSlot();
  }

  private freeSlot(): void {
    if (!this.slotHeld) return;
    this.slotHeld = false;
    this.ctx.pool.release(this.up);
  }
}

/**
 * An upgrade over the uwsgi link, as nginx's uwsgi_pass does it: one connection, the packet (no
 * body: CONTENT_LENGTH 0), the app's answer head read and checked, then on a 101 the two sockets
 * piped into each other (backpressure both ways, a half-close passed on); on any other answer, its
 * body until the upstream closes. The upstream slot is held until the head.
 */
async function uwsgiTunnel(req: IncomingMessage, socket: Socket, head: Buffer, ctx: UpgradeContext, up: Upstream): Promise<void> {
  const upstream = await connectUpstream(up).catch(() => null);
  if (upstream === null) {
    ctx.pool.release(up);
    return refuse(socket, ctx, req, 'PORTICO_ERR_UPSTREAM_CONNECT', `nothing accepts at ${up.label}`);
  }
  if (socket.destroyed) {
    upstream.destroy();
    ctx.pool.release(up);
    return;
  }
  upstream.on('error', noop);
  upstream.write(encodePacketHead({ vars: varsForHttpRequest(req, ctx, 0) }));
  let held = true;
  const release = (): void => {
    if (!held) return;
    held = false;
    ctx.pool.release(up);
  };
  const timer = setTimeout(() => failHead(new PorticoError('PORTICO_ERR_UPSTREAM_TIMEOUT', `no answer to the upgrade within ${ctx.upstreamTimeoutMs / 1000} s`)), ctx.upstreamTimeoutMs);
  socket.once('close', () => {
    clearTimeout(timer);
    upstream.destroy();
    release();
  });
  let buf: Buffer = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    let parsed;
    try {
      parsed = parseResponseHead(buf, { switching: true });
    } catch (err) {
      return failHead(isPorticoError(err) ? err : new PorticoError('PORTICO_ERR_BAD_RESPONSE', String(err)));
    }
    if (parsed === null) return;
    upstream.off('data', onData);
    upstream.off('end', onEnd);
    clearTimeout(timer);
    release();
    // Hop-by-hop headers, and those its Connection names, stay with the upstream (as on every answer).
    const text = answerHead(req, parsed.status, parsed.statusText, clientHeaders(parsed.headers.flat()));
    if (text instanceof PorticoError) return failHead(text);
    socket.write(text, 'latin1');
    const rest = buf.subarray(parsed.size);
    if (rest.length > 0) socket.write(rest);
    upstream.pipe(socket);
    const answer = { statusCode: parsed.status };
    socket.once('close', () => ctx.access?.note(req, answer));
    if (parsed.status !== 101) return;
    if (head.length > 0) upstream.write(head);
    socket.pipe(upstream);
  };
  const onEnd = (): void => failHead(new PorticoError('PORTICO_ERR_UPSTREAM_ABORTED', 'the upstream closed before its answer to the upgrade'));
  const failHead = (err: PorticoError): void => {
    upstream.off('data', onData);
    upstream.destroy();
    clearTimeout(timer);
    release();
    refuse(socket, ctx, req, err.code, `${errorDetail(err)} (${up.label})`);
  };
  upstream.on('data', onData);
  upstream.once('end', onEnd);
}

function noop(): void {}
