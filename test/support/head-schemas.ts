import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AvroSchema } from '../../protocol/link/bounded-avro.js';
import { HeadSchemas, type NativeResponseHead } from '../../protocol/link/index.js';
import { fixturesDir } from '../../support/paths.js';

/**
 * Response-head schema v1 as shipped, frozen: its Parsing Canonical Form, copied here when it
 * shipped. The shipped one must never change (test/unit/protocol/link/link-codec.test.ts compares them); a build
 * of the next version keeps reading it.
 */
export const FROZEN_V1_JSON = readFileSync(join(fixturesDir, 'native-head-schema-v1.json'), 'utf8').trim();
export const FROZEN_V1_FINGERPRINT = 'd7b355e28fb8f19f97b278571fe0abc6';

const FROZEN_V1 = JSON.parse(FROZEN_V1_JSON) as { fields: object[] };

/** A next version as the rules allow it: v1 plus a field with a default. */
const NEXT_V2 = { ...FROZEN_V1, fields: [...FROZEN_V1.fields, { name: 'server', type: 'string', default: '' }] } as AvroSchema;

/** The schemas of a build one version ahead: it writes v2 and reads v2 and v1. */
export const NEXT_BUILD = new HeadSchemas(
  [
    [1, FROZEN_V1 as AvroSchema],
    [2, NEXT_V2],
  ],
  2,
);

/** A head as a build one version ahead reads it. */
export type NextHead = NativeResponseHead & { server: string };
