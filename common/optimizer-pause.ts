import { cachedDataVersionTag, setFlagsFromString } from 'node:v8';

// Loading portico's own ES modules (some 50 in a worker process) calls two functions of Node's
// module loader, fileURLToPath and path.resolve, several hundred times: enough for V8 to optimize
// both, which pages its optimizing compiler's code into the process (about 4 MB of RSS in Node 20)
// for functions that nothing calls once the process has started. V8 reads these flags each time
// it decides to optimize, so a pause only keeps that start from optimizing anything; code hot
// later (the app, the request path) is optimized as usual once resumed.
const TIERS = ['turbofan', 'maglev'];

let paused: string[] = [];

export function pauseOptimizer(): void {
  for (const tier of TIERS) {
    const tag = cachedDataVersionTag();
    setFlagsFromString(`--no-${tier}`);
    // The tag hashes V8's flags: unchanged, the tier was off already (Node 20 has no Maglev,
    // `node --no-turbofan` none), and resuming must leave it off.
    if (cachedDataVersionTag() !== tag) paused.push(tier);
  }
}

/** Does nothing unless paused: every place portico's own start ends calls it. */
export function resumeOptimizer(): void {
  for (const tier of paused) setFlagsFromString(`--${tier}`);
  paused = [];
}
