import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface RawRequestOptions {
  method?: string;
  headers?: OutgoingHttpHeaders;
  /** Written one piece at a time, each after the previous one was flushed to the socket. */
  body?: Array<string | Buffer>;
}

/**
 * node:http for what fetch hides or changes: the path goes out verbatim (no URL normalisation of
 * `..` or `%2e`), header names are not vetted beyond HTTP's token rules, a body can be written in
 * pieces, and the response body is the bytes as received (no gzip decoding).
 */
export function rawRequest(base: string, path: string, options: RawRequestOptions = {}): Promise<RawResponse> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path, method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    const pieces = options.body ?? [];
    const writeNext = (i: number): void => {
      if (i === pieces.length) {
        req.end();
        return;
      }
      req.write(pieces[i]!, () => writeNext(i + 1));
    };
    writeNext(0);
  });
}
