// Peers the tests run against (systemd-analyze, docker-compose, a Docker engine...) may be absent
// on a developer's machine: the tests that need one are then skipped, with the reason. CI
// installs and starts them all and sets PORTICO_REQUIRE_PEERS=1 (.ci/run), which turns every such
// skip into a failing test, so a broken install never passes as a green run with tests missing.
import assert from 'node:assert/strict';
import { test } from 'node:test';

export const REQUIRE_PEERS = process.env.PORTICO_REQUIRE_PEERS === '1';

/**
 * The `skip` option for tests that need a peer: false when `missing` is false (the peer is here),
 * else the reason. Under PORTICO_REQUIRE_PEERS=1 an absent peer also registers a test that fails
 * with that reason. Call it at the top level of a test file.
 */
export function needPeer(missing: string | false): string | false {
  if (missing === false) return false;
  if (REQUIRE_PEERS) {
    test(`a required peer is missing (PORTICO_REQUIRE_PEERS=1): ${missing}`, () => {
      assert.fail(missing);
    });
  }
  return missing;
}
