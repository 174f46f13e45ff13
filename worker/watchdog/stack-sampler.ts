/**
 * One sample of the app thread's JavaScript stack, taken from the watchdog thread (watchdog.ts):
 * node:inspector's connectToMainThread() (only a worker thread may call it) reaches the main
 * thread's V8 inspector, whose messages V8 serves from an interrupt, so even a thread spinning in
 * `for (;;)` answers. Debugger.pause then stops it where it is and the paused event carries the
 * call frames. Nothing is connected or enabled between samples: the app runs at full speed.
 */
export type StackSample =
  | { frames: string[] }
  /** Why there is no stack (the deadline passed). */
  | { error: string };

/**
 * How long a sample may take: past it, harakiri kills without one and the log says why. The
 * inspector answers within tens of milliseconds from a spinning thread.
 */
export const SAMPLE_DEADLINE_MS = 1000;

/** Frames past this are left out (a deep recursion would make a huge log line). */
const MAX_FRAMES = 40;

interface ScriptParsed {
  params: { scriptId: string; url: string };
}

interface Paused {
  params: { callFrames: Array<{ functionName: string; url?: string; location: { scriptId: string; lineNumber: number; columnNumber: number } }> };
}

/**
 * The main thread's stack, or why not within `deadlineMs`: it did not answer the inspector at all
 * (blocked outside JavaScript, in a native call), or it answered but ran no JavaScript (idle: the
 * request waits on I/O, a timer or a promise).
 */
export async function sampleMainThread(deadlineMs: number): Promise<StackSample> {
  // Loaded by the first sample, in the watchdog thread: the master imports this module only for
  // formatSample, and node:inspector (with node:worker_threads) is about 0.3 MB of its RSS.
  const { Session } = await import('node:inspector');
  return new Promise((resolve) => {
    const session = new Session();
    try {
      session.connectToMainThread();
    } catch (err) {
      resolve({ error: `the inspector is not available: ${(err as Error).message}` });
      return;
    }
    // CallFrame.url is empty in recent V8: the url comes from the script's scriptParsed event,
    // which Debugger.enable sends for every script already loaded.
    const urls = new Map<string, string>();
    let answered = false;
    let done = false;
    const finish = (sample: StackSample): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      session.post('Debugger.disable', () => session.disconnect());
      resolve(sample);
    };
    const timer = setTimeout(
      () =>
        finish({
          error: answered
            ? `the app's thread ran no JavaScript within ${deadlineMs} ms: its event loop is idle`
            : `the app's thread did not answer the inspector within ${deadlineMs} ms: it is blocked outside JavaScript, in a native call`,
        }),
      deadlineMs,
    );
    session.on('Debugger.scriptParsed', (m: ScriptParsed) => urls.set(m.params.scriptId, m.params.url));
    session.once('Debugger.paused', (m: Paused) => {
      // Past the deadline: the disable already posted resumes the thread.
      if (done) return;
      const all = m.params.callFrames.map((f) => ({
        name: f.functionName,
        url: f.url || urls.get(f.location.scriptId) || '<anonymous>',
        line: f.location.lineNumber + 1,
        column: f.location.columnNumber + 1,
      }));
      session.post('Debugger.resume', () => finish({ frames: formatFrames(all) }));
    });
    session.post('Debugger.enable', () => {
      answered = true;
      if (!done) session.post('Debugger.pause');
    });
  });
}

/** Where portico's own modules are (dist/): the frames under the app's are its request dispatch. */
const PORTICO_ROOT = new URL('../..', import.meta.url).href;

/**
 * The frames as "name (url:line:column)", cut below the app's: from the first of portico's own
 * frames under one of the app's down, the frames are how portico called the app, the same for
 * every request, and only one line says how many. A stack that is portico's from the top stays whole.
 */
function formatFrames(all: Array<{ name: string; url: string; line: number; column: number }>): string[] {
  const ours = (url: string): boolean => url.startsWith(PORTICO_ROOT);
  const appAt = all.findIndex((f) => !ours(f.url) && !f.url.startsWith('node:'));
  const cutAt = appAt < 0 ? -1 : all.findIndex((f, i) => i > appAt && ours(f.url));
  const shown = (cutAt < 0 ? all : all.slice(0, cutAt)).slice(0, MAX_FRAMES);
  const lines = shown.map((f) => {
    const where = `${f.url}:${f.line}:${f.column}`;
    return f.name ? `${f.name} (${where})` : where;
  });
  if (all.length > shown.length) lines.push(`... ${all.length - shown.length} more frame(s)${cutAt >= 0 ? ': portico calling the app' : ''}`);
  return lines;
}

/** A sample as log lines: the frames as in an Error's stack, or the reason there are none. */
export function formatSample(sample: StackSample): string {
  return 'frames' in sample ? sample.frames.map((f) => (f.startsWith('... ') ? `    ${f}` : `    at ${f}`)).join('\n') : `    (no stack: ${sample.error})`;
}
