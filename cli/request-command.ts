import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PorticoError } from '../common/errors.js';
import { formatHelp, requestOptions } from '../config/option-schema.js';
import { uwsgiRequest } from '../protocol/uwsgi/uwsgi-client.js';

const USAGE = "Usage: portico request --socket PATH|HOST:PORT [-X METHOD] [-H 'Name: value']... [-d DATA|@file] [-i] /path?query";

/** Like uwsgi_curl: one uwsgi request, the body on stdout; exit 1 on a connection error or bad response. */
export async function requestCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: requestOptions, allowPositionals: true });
  if (values.help) {
    process.stdout.write(formatHelp(USAGE, requestOptions));
    return 0;
  }
  if (!values.socket) {
    process.stderr.write(`${USAGE}\n\nportico request: --socket is required\n`);
    return 2;
  }
  const headers: Array<[string, string]> = (values.header ?? []).map((h) => {
    const colon = h.indexOf(':');
    if (colon <= 0) throw new PorticoError('PORTICO_ERR_INVALID_OPTION', `-H wants 'Name: value', got ${JSON.stringify(h)}`);
    return [h.slice(0, colon).trim(), h.slice(colon + 1).trim()];
  });
  const data = values.data;
  const body = data === undefined ? undefined : data.startsWith('@') ? readFileSync(data.slice(1)) : Buffer.from(data);
  if (body && !headers.some(([n]) => n.toLowerCase() === 'content-type')) {
    headers.push(['Content-Type', 'application/x-www-form-urlencoded']);
  }
  const res = await uwsgiRequest({
    socket: values.socket,
    method: values.request,
    path: positionals[0] ?? '/',
    headers,
    body,
    modifier1: Number(values.modifier1),
    timeoutMs: Number(values.timeout) * 1000,
  });
  if (values.include) {
    let head = `HTTP/${res.httpVersion} ${res.status} ${res.statusText}\r\n`;
    for (const [n, v] of res.headers) head += `${n}: ${v}\r\n`;
    process.stdout.write(head + '\r\n');
  }
  await new Promise<void>((resolve) => process.stdout.write(res.body, () => resolve()));
  return 0;
}
