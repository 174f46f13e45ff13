/**
 * One sample of the app thread's JavaScript stack, taken from the watchdog thread (watchdog.ts):
 * node:inspector's connectToMainThread() (only a worker thread may call it) reaches the main
 * thread's V8 inspector, whose messages V8 serves from an interrupt, so even a thread spinning in
 * `for (;;)` answers. Debugger.pause then stops it where it is and the paused event carries the
 * call frames. Nothing is connected or enabled between samples: the app runs at full speed.
 */
import { Session } from 'node:inspector';

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
export function sampleMainThread(deadlineMs: number): Promise<StackSample> {
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
    const timer = setTimeout(() => finish({
      error: answered
        ? `the app's thread ran no JavaScript within ${deadlineMs} ms: its event loop is idle`
        : `the app's thread did not answer the inspector within ${deadlineMs} ms: it is blocked outside JavaScript, in a native call`,
    }), deadlineMs);
    session.on('Debugger.scriptParsed', (m: ScriptParsed) => urls.set(m.params.scriptId, m.params.url));
    session.once('Debugger.paused', (m: Paused) => {
      // Past the deadline: the disable already posted resumes the thread.
      if (done) return;
      const frames = m.params.callFrames.slice(0, MAX_FRAMES).map((f) => {
        const where = `${f.url || urls.get(f.location.scriptId) || '<anonymous>'}:${f.location.lineNumber + 1}:${f.location.columnNumber + 1}`;
        return f.functionName ? `${f.functionName} (${where})` : where;
      });
      if (m.params.callFrames.length > MAX_FRAMES) frames.push(`... ${m.params.callFrames.length - MAX_FRAMES} more`);
      session.post('Debugger.resume', () => finish({ frames }));
    });
    session.post('Debugger.enable', () => {
      answered = true;
      if (!done) session.post('Debugger.pause');
    });
  });
}

/** A sample as log lines: the frames as in an Error's stack, or the reason there are none. */
export function formatSample(sample: StackSample): string {
  return 'frames' in sample ? sample.frames.map((f) => `    at ${f}`).join('\n') : `    (no stack: ${sample.error})`;
}
