// A WebSocket opening handshake (protocol/http/upgrade.ts): Connection lists `upgrade` and Upgrade
// names `websocket`, as comma-separated tokens in any case; anything else (h2c) is not one.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isWebSocketUpgrade } from '../../../../protocol/http/upgrade.js';

describe('isWebSocketUpgrade', () => {
  it('takes the tokens anywhere in their lists, in any case, a protocol version aside', () => {
    assert.equal(isWebSocketUpgrade('Upgrade', 'websocket'), true);
    assert.equal(isWebSocketUpgrade('keep-alive, Upgrade', 'WebSocket'), true);
    assert.equal(isWebSocketUpgrade('UPGRADE ,keep-alive', 'h2c, websocket/13'), true);
  });

  it('is not one without both headers, without the upgrade token, or for another protocol', () => {
    assert.equal(isWebSocketUpgrade(undefined, 'websocket'), false);
    assert.equal(isWebSocketUpgrade('Upgrade', undefined), false);
    assert.equal(isWebSocketUpgrade('keep-alive', 'websocket'), false);
    assert.equal(isWebSocketUpgrade('Upgrade', 'h2c'), false);
    assert.equal(isWebSocketUpgrade('upgrades', 'websocket'), false, 'a token, not a prefix');
    assert.equal(isWebSocketUpgrade('Upgrade', 'websockets'), false);
  });
});
