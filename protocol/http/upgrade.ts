/**
 * A WebSocket opening handshake (RFC 6455 §4.1): `Connection` lists the `upgrade` token and
 * `Upgrade` names `websocket`. One rule for the gateway (request headers) and the worker (the
 * HTTP_CONNECTION and HTTP_UPGRADE vars). Other upgrades (`h2c` from `curl --http2`) are not
 * refused anywhere: a server may ignore an Upgrade it does not take (RFC 9110 §7.8) and answer
 * over HTTP/1.1, which is what a normal response does.
 */
export function isWebSocketUpgrade(connection: string | undefined, upgrade: string | undefined): boolean {
  if (upgrade === undefined || connection === undefined) return false;
  return hasToken(upgrade, 'websocket') && hasToken(connection, 'upgrade');
}

/** A comma-separated list (RFC 9110 §5.6.1) holds `token`, case-insensitively (a protocol's `/version` aside). */
function hasToken(list: string, token: string): boolean {
  for (const item of list.split(',')) {
    const name = item.trim().toLowerCase();
    if (name === token || name.startsWith(`${token}/`)) return true;
  }
  return false;
}
