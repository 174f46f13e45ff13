/**
 * Every error portico raises on purpose has a code here, a default HTTP status and a message.
 * docs/errors.md documents each; tests match on `code`, never on message text.
 */
export const ErrorCodes = {
  PORTICO_ERR_VARS_TOO_BIG: { status: 413, message: 'uwsgi vars block is larger than the buffer size' },
  PORTICO_ERR_BAD_VAR_LENGTH: { status: 400, message: 'uwsgi var length points past the end of the vars block' },
  PORTICO_ERR_UNKNOWN_MODIFIER: { status: 400, message: 'unknown uwsgi modifier1' },
  PORTICO_ERR_TRUNCATED_PACKET: { status: 400, message: 'connection closed in the middle of a uwsgi packet' },
  PORTICO_ERR_TRUNCATED_BODY: { status: 400, message: 'connection closed before the whole body arrived (CONTENT_LENGTH bytes, or the last chunk of a chunked one)' },
  PORTICO_ERR_BAD_CHUNKED_BODY: { status: 400, message: 'malformed chunked request body (no CONTENT_LENGTH, Transfer-Encoding: chunked)' },
  PORTICO_ERR_CHUNKED_BODY_MISSING: { status: 411, message: 'a chunked request body (Transfer-Encoding: chunked, no CONTENT_LENGTH) did not start within --chunked-input-timeout' },
  PORTICO_ERR_UNSUPPORTED_TRANSFER_ENCODING: { status: 501, message: 'a request without CONTENT_LENGTH whose Transfer-Encoding does not end in chunked: its body cannot be framed' },
  PORTICO_ERR_EMPTY_REQUEST: { status: 400, message: 'a uwsgi packet with an empty vars block is not a request' },
  PORTICO_ERR_HTTP_ON_UWSGI_SOCKET: { status: 400, message: 'an HTTP request was sent to a uwsgi socket' },
  PORTICO_ERR_INVALID_HEADER: { status: 500, message: 'response header is invalid (a CR, LF or NUL, a name that is not a token, or a Content-Length that is not one number)' },
  PORTICO_ERR_INVALID_STATUS: { status: 500, message: 'the app answered with a status that cannot end a response (a final status is 200-599)' },
  PORTICO_ERR_BODY_LENGTH: { status: 500, message: "the app's response body is not as long as its Content-Length" },
  PORTICO_ERR_APP_EXCEPTION: { status: 500, message: 'the app threw while handling a request' },
  PORTICO_ERR_APP_LOAD: { status: 500, message: 'the app module could not be loaded' },
  PORTICO_ERR_GATEWAY_PLUGIN: { status: 500, message: 'a --gateway-plugin could not be loaded or registered' },
  PORTICO_ERR_CLIENT_ABORTED: { status: 499, message: 'the client closed the connection before the response was complete' },
  PORTICO_ERR_BAD_RESPONSE: { status: 502, message: 'the upstream sent a malformed response' },
  PORTICO_ERR_UPSTREAM_CONNECT: { status: 502, message: 'could not connect to the upstream socket' },
  PORTICO_ERR_UPSTREAM_TIMEOUT: { status: 504, message: 'the upstream did not answer in time' },
  PORTICO_ERR_UPSTREAM_ABORTED: { status: 502, message: 'the upstream closed the connection in the middle of the response' },
  PORTICO_ERR_UPSTREAM_WRONG_PROTOCOL: { status: 502, message: 'the upstream does not speak the protocol its --upstream scheme names' },
  PORTICO_ERR_UPSTREAM_BACKOFF: { status: 502, message: 'the upstream refused the native link handshake recently and is skipped until its backoff ends' },
  PORTICO_ERR_QUEUE_FULL: { status: 503, message: 'every upstream is at --upstream-concurrency and the --listen queue is full' },
  PORTICO_ERR_BODY_TOO_LARGE: { status: 413, message: 'request body is larger than the limit' },
  PORTICO_ERR_REQUEST_LINE_TOO_LONG: { status: 414, message: 'request line is longer than --limit-request-line' },
  PORTICO_ERR_TOO_MANY_HEADERS: { status: 431, message: 'request has more header fields than --limit-request-fields' },
  PORTICO_ERR_HEADER_FIELD_TOO_LARGE: { status: 431, message: 'a request header field is larger than --limit-request-field-size' },
  PORTICO_ERR_HEADERS_TOO_LARGE: { status: 431, message: 'request line and headers together are larger than the parser accepts' },
  PORTICO_ERR_BAD_HTTP_REQUEST: { status: 400, message: 'malformed HTTP request refused by the parser' },
  PORTICO_ERR_METHOD_NOT_ALLOWED: { status: 405, message: 'CONNECT is for forward proxies, and the gateway is none' },
  PORTICO_ERR_UPGRADE_UNSUPPORTED: { status: 501, message: 'a WebSocket upgrade this path cannot carry' },
  PORTICO_ERR_INVALID_HOST: { status: 400, message: 'the Host header is not a valid host[:port]' },
  PORTICO_ERR_REQUEST_TIMEOUT: { status: 408, message: 'the request head or body did not arrive within --headers-timeout / --request-timeout' },
  PORTICO_ERR_TOO_MANY_CONNECTIONS: { status: 503, message: 'connection refused: --max-connections are open' },
  PORTICO_ERR_SOCKET_IN_USE: { status: 503, message: 'the socket (path or TCP port) is in use by another server' },
  PORTICO_ERR_SOCKET_PERMISSION: { status: 503, message: 'permission denied on the socket' },
  PORTICO_ERR_FORBIDDEN_PEER: { status: 403, message: 'peer address is not in --allow-from' },
  PORTICO_ERR_INVALID_OPTION: { status: 500, message: 'invalid option' },
  PORTICO_ERR_OTEL_EXPORT: { status: 500, message: 'spans could not be exported to the OpenTelemetry collector' },
  PORTICO_ERR_UNSUPPORTED_LOGGER: { status: 500, message: 'unsupported logger' },
  PORTICO_ERR_PIDFILE_IN_USE: { status: 500, message: 'the pidfile names a running process' },
  PORTICO_ERR_NATIVE_HANDSHAKE: { status: 502, message: 'native link handshake failed' },
  PORTICO_ERR_NATIVE_SCHEMA: { status: 502, message: 'the native link peer writes a response-head schema this side cannot read' },
  PORTICO_ERR_NATIVE_FRAME_TOO_BIG: { status: 502, message: 'native link frame is larger than the maximum frame size' },
  PORTICO_ERR_NATIVE_BAD_FRAME: { status: 502, message: 'unknown or out-of-sequence native link frame' },
  PORTICO_ERR_NATIVE_TRUNCATED: { status: 502, message: 'native link connection closed in the middle of a frame or exchange' },
  PORTICO_ERR_HARAKIRI: { status: 504, message: 'a request ran past --harakiri: its worker was killed and replaced' },
  PORTICO_ERR_WORKER_DIED: { status: 502, message: 'a worker process died; the master starts a new one' },
  PORTICO_ERR_WORKER_CRASH_LOOP: { status: 503, message: 'a worker keeps dying soon after it starts; the master backs off between starts' },
  PORTICO_ERR_GATEWAY_DIED: { status: 502, message: 'a gateway process (--gateway-processes) died; the master starts a new one while the others keep serving' },
  PORTICO_ERR_RELOAD_FAILED: { status: 500, message: 'a chain reload stopped because a new worker failed to start; the old workers keep serving' },
  PORTICO_ERR_CRON_FAILED: { status: 500, message: 'a --cron or --cron-app task failed (non-zero exit, a throw, or its process died); the master and the workers go on' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ErrorCodes;

export class PorticoError extends Error {
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    const base = ErrorCodes[code].message;
    super(detail ? `${base}: ${detail}` : base, options);
    this.name = 'PorticoError';
    this.code = code;
    this.status = ErrorCodes[code].status;
  }
}

export function isPorticoError(err: unknown): err is PorticoError {
  return err instanceof PorticoError;
}
