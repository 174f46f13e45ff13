import type { PorticoError } from '../../common/errors.js';
import { UwsgiVars } from '../../protocol/uwsgi-vars.js';
import {
  FrameDecoder, FrameType, acceptHello, decodeHello, encodeHello, encodeResponseHeadFrame, isBodyFrame, writeAbort,
  writeBody, writeFrame, writeRequestHead, type FrameSide, type NativeResponseHead,
} from '../../protocol/native/index.js';

/** Byte i of a generated body: a pattern that a dropped, repeated or reordered byte breaks. */
export function pattern(n: number, seed = 0): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed + (i >> 13)) & 0xff;
  return b;
}

export { rng } from '../../support/rng.js';

/** Collects writes as they are, to check what was coalesced and what was passed on uncopied. */
export function sink(): { parts: Uint8Array[]; write(c: Uint8Array): boolean; bytes(): Buffer } {
  const parts: Uint8Array[] = [];
  return { parts, write: (c) => (parts.push(c), true), bytes: () => Buffer.concat(parts) };
}

export type Decoded = Array<[number, Buffer]>;

/** Decodes pieces; consecutive body pieces of one type are merged (a body is a byte stream). */
export function decode(pieces: Buffer[], side?: FrameSide, maxFrameSize?: number): { frames: Decoded; errors: PorticoError[] } {
  const frames: Decoded = [];
  const errors: PorticoError[] = [];
  const d = new FrameDecoder({
    onFrame(type, payload) {
      const last = frames.at(-1);
      if (isBodyFrame(type) && last && last[0] === type) last[1] = Buffer.concat([last[1], payload]);
      else frames.push([type, Buffer.from(payload)]); // control payloads are only valid during the call
    },
    onError: (err) => errors.push(err),
  }, { side, maxFrameSize });
  for (const p of pieces) d.push(p);
  d.end();
  return { frames, errors };
}

export const HEAD: NativeResponseHead = {
  status: 201, reason: 'Created', headers: ['set-cookie', 'a=1', 'set-cookie', 'b=2', 'x-ü', 'ü'], workerPid: 4242,
};

export function requestStream(): Buffer {
  const s = sink();
  writeRequestHead(s, [['REQUEST_METHOD', 'PUT'], ['PATH_INFO', '/up'], ['HTTP_X', 'é']]);
  writeBody(s, FrameType.RequestBody, pattern(300));
  writeBody(s, FrameType.RequestBody, pattern(5000, 1));
  writeFrame(s, FrameType.RequestEnd);
  writeAbort(s, FrameType.RequestAbort, 'late cancel');
  writeRequestHead(s, new UwsgiVars(['CONTENT_LENGTH', '12']));
  writeAbort(s, FrameType.RequestAbort);
  return s.bytes();
}

export function responseStream(): Buffer {
  const s = sink();
  s.write(acceptHello(decodeHello(encodeHello())!.hello));
  s.write(encodeResponseHeadFrame(HEAD));
  writeBody(s, FrameType.ResponseBody, 'héllo ');
  writeBody(s, FrameType.ResponseBody, pattern(70_000, 2));
  writeFrame(s, FrameType.ResponseEnd);
  writeAbort(s, FrameType.ResponseAbort, 'failed before the head');
  s.write(encodeResponseHeadFrame({ status: 500, reason: '', headers: [], workerPid: 1 }));
  writeAbort(s, FrameType.ResponseAbort, 'boom');
  return s.bytes();
}
