import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { vectorsDir } from './paths.js';

export interface RequestVector {
  name: string;
  packet: Buffer;
  modifier1: number;
  modifier2: number;
  datasize: number;
  vars: Array<[string, string]>;
  body: Buffer;
  note?: string;
}

export interface ResponseVector {
  name: string;
  request: Buffer;
  response: Buffer;
}

interface RawRequest {
  name: string;
  packet_base64: string;
  modifier1: number;
  modifier2: number;
  datasize: number;
  vars: Array<[string, string]>;
  body_base64: string;
  note?: string;
}

/** The uwsgi packets captured from real nginx and uWSGI in test/fixtures/vectors/. */
export function requestVectors(): RequestVector[] {
  const raw = JSON.parse(readFileSync(join(vectorsDir, 'uwsgi-requests.json'), 'utf8')) as RawRequest[];
  return raw.map((r) => ({
    name: r.name,
    packet: Buffer.from(r.packet_base64, 'base64'),
    modifier1: r.modifier1,
    modifier2: r.modifier2,
    datasize: r.datasize,
    vars: r.vars,
    body: Buffer.from(r.body_base64, 'base64'),
    note: r.note,
  }));
}

export function responseVectors(): ResponseVector[] {
  const raw = JSON.parse(readFileSync(join(vectorsDir, 'uwsgi-responses.json'), 'utf8')) as Array<{
    name: string;
    request_packet_base64: string;
    response_base64: string;
  }>;
  return raw.map((r) => ({
    name: r.name,
    request: Buffer.from(r.request_packet_base64, 'base64'),
    response: Buffer.from(r.response_base64, 'base64'),
  }));
}
