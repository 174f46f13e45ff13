// A child's output line by line (common/stream-lines.ts): whole lines only, whatever the chunks,
// CRLF or LF, a multi-byte character split between chunks kept whole, and a last line without a
// newline given at the end.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { eachLine } from '../../../common/stream-lines.js';

describe('eachLine', () => {
  it('joins lines across chunks, drops \\r before \\n, gives the unterminated last line at the end', async () => {
    const out = new PassThrough();
    const lines: string[] = [];
    eachLine(out, (l) => lines.push(l));
    const euro = Buffer.from('€');
    for (const chunk of [Buffer.from('fir'), Buffer.from('st\r\nsec'), Buffer.from('ond\n\nthird '), euro.subarray(0, 1), euro.subarray(1), Buffer.from('\nlast')]) out.write(chunk);
    out.end();
    await once(out, 'end');
    assert.deepEqual(lines, ['first', 'second', '', 'third €', 'last']);
  });

  it('no stream (a child without that pipe): nothing happens', () => {
    assert.doesNotThrow(() => eachLine(null, () => assert.fail('no line expected')));
  });
});
