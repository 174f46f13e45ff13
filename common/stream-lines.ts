import type { Readable } from 'node:stream';

/** Calls `fn` with each complete line of a child's output (no \n, no \r), a last one without \n too. */
export function eachLine(stream: Readable | null, fn: (line: string) => void): void {
  if (!stream) return;
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop()!;
    for (const line of lines) fn(line.replace(/\r$/, ''));
  });
  stream.on('end', () => {
    if (rest) fn(rest);
    rest = '';
  });
}
