import { PacketDecoder, type PacketHead } from '../../protocol/uwsgi/packet-decoder.js';
import type { PorticoError } from '../../common/errors.js';

export interface Decoded {
  head: PacketHead | null;
  body: Buffer;
  ended: boolean;
  error: PorticoError | null;
}

/** Feeds the chunks to a decoder and collects what it reports, then signals EOF. */
export function decodeChunks(chunks: Buffer[], options: { bufferSize?: number; eof?: boolean } = {}): Decoded {
  const out: Decoded = { head: null, body: Buffer.alloc(0), ended: false, error: null };
  const parts: Buffer[] = [];
  const d = new PacketDecoder(
    {
      onHead: (h) => (out.head = h),
      onBody: (c) => parts.push(Buffer.from(c)),
      onEnd: () => (out.ended = true),
      onError: (e) => (out.error = e),
    },
    { bufferSize: options.bufferSize ?? 65535 },
  );
  for (const c of chunks) d.push(c);
  if (options.eof !== false) d.end();
  out.body = Buffer.concat(parts);
  return out;
}
