import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { formatHelp, topOptions } from '../config/option-schema.js';
import type { MasterStatsJson } from '../master/master-stats.js';
import { fetchStats, fetchStatsRaw, StatsUnavailableError } from '../master/stats-client.js';
import { renderTop } from './top-render.js';

const USAGE = 'Usage: portico top [--stats] PATH|HOST:PORT [--once [--json]]';

const REFRESH_MS = 1000;
/** The master answers within its own per-worker timeout (500 ms); past this it is stuck or wrong. */
const FETCH_TIMEOUT_MS = 3000;

// Alternate screen + hidden cursor while running, so quitting gives the shell back its screen as
// top and htop do; each refresh is clear screen + home.
const ENTER_SCREEN = '\x1b[?1049h\x1b[?25l';
const LEAVE_SCREEN = '\x1b[?25h\x1b[?1049l';
const CLEAR_HOME = '\x1b[H\x1b[2J';

/**
 * `portico top`, like uwsgitop: polls a master's --stats server every second and shows the master
 * and one row per worker. --once prints one snapshot (exit 1 if the server cannot be read), for
 * scripts and tests; --json with it prints the document itself.
 */
export async function topCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: topOptions, allowPositionals: true });
  if (values.help) {
    process.stdout.write(formatHelp(USAGE, topOptions));
    return 0;
  }
  const spec = values.stats ?? positionals[0];
  if (!spec || positionals.length > (values.stats === undefined ? 1 : 0)) {
    process.stderr.write(`${USAGE}\n\nportico top: give the stats server's address once (--stats PATH|HOST:PORT)\n`);
    return 2;
  }
  if (values.json && !values.once) {
    process.stderr.write(`${USAGE}\n\nportico top: --json prints one document: use it with --once\n`);
    return 2;
  }
  return values.once ? once(spec, values.json) : live(spec);
}

async function once(spec: string, json: boolean): Promise<number> {
  let text: string;
  try {
    text = json ? (await fetchStatsRaw(spec, FETCH_TIMEOUT_MS)).text : renderTop(null, await fetchStats(spec, FETCH_TIMEOUT_MS), 0);
  } catch (err) {
    if (!(err instanceof StatsUnavailableError)) throw err;
    process.stderr.write(`portico top: ${err.message}\n`);
    return 1;
  }
  await write(process.stdout, text.endsWith('\n') ? text : `${text}\n`);
  return 0;
}

/** Refreshes until q, Ctrl-C (raw-mode stdin on a terminal, else SIGINT) or SIGTERM. */
function live(spec: string): Promise<number> {
  const out = process.stdout;
  const stdin = process.stdin;
  const tty = out.isTTY === true;
  const rawInput = stdin.isTTY === true;
  return new Promise<number>((resolve, reject) => {
    let prev: { doc: MasterStatsJson; at: number } | null = null;
    /** What is on screen, so a resize redraws it at the new width without waiting a poll. */
    let redraw: (() => string) | null = null;
    let timer: NodeJS.Timeout | undefined;
    let done = false;

    const restore = (): void => {
      if (rawInput) stdin.setRawMode(false);
      if (tty) out.write(LEAVE_SCREEN);
    };
    const finish = (err?: unknown): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      listen('off');
      restore();
      if (err === undefined) resolve(0);
      else reject(err);
    };
    const onKey = (data: Buffer): void => {
      // Raw mode: Ctrl-C arrives as the byte 0x03, not as SIGINT.
      if (data.includes(0x03) || data.includes(0x71) || data.includes(0x51)) finish();
    };
    const onSignal = (): void => finish();
    const onResize = (): void => {
      if (redraw) show(redraw());
    };
    /** What live() listens to while it runs: the keys, the signals that stop it, the exit that must restore the terminal, a resize. */
    const listen = (method: 'on' | 'off'): void => {
      if (rawInput) {
        stdin[method]('data', onKey);
        // restore() leaves raw mode: the exit handler needs it as well.
        if (method === 'on') stdin.setRawMode(true).resume();
        else stdin.pause();
      }
      process[method]('SIGINT', onSignal);
      process[method]('SIGTERM', onSignal);
      // A crash must not leave the terminal in raw mode on the alternate screen.
      process[method]('exit', restore);
      out[method]('resize', onResize);
    };

    const show = (text: string): void => {
      if (!tty) {
        out.write(`${text}\n`);
        return;
      }
      // Past the last row the terminal would scroll and the top of the screen would be lost.
      const rows = Math.max(1, (out.rows || 24) - 1);
      const lines = text.replace(/\n$/, '').split('\n');
      const shown = lines.length > rows ? [...lines.slice(0, rows - 1), `... ${lines.length - rows + 1} more lines`] : lines;
      out.write(CLEAR_HOME + shown.join('\n'));
    };

    const tick = async (): Promise<void> => {
      try {
        const doc = await fetchStats(spec, FETCH_TIMEOUT_MS);
        const at = performance.now();
        const before = prev;
        redraw = () => renderTop(before?.doc ?? null, doc, before ? at - before.at : 0, { width: tty && out.columns > 0 ? out.columns : undefined, ansi: tty });
        prev = { doc, at };
      } catch (err) {
        if (!(err instanceof StatsUnavailableError)) throw err;
        const message = `portico top: ${err.message}\nretrying every second${rawInput ? ' (q quits)' : ''}\n`;
        // A rate across the outage would average over time nobody saw.
        prev = null;
        redraw = () => message;
        if (!tty) {
          redraw = null;
          process.stderr.write(message);
        }
      }
      if (done) return;
      if (redraw) show(redraw());
      timer = setTimeout(() => void tick().catch(finish), REFRESH_MS);
    };

    listen('on');
    if (tty) out.write(ENTER_SCREEN);
    void tick().catch(finish);
  });
}

function write(stream: NodeJS.WritableStream, text: string): Promise<void> {
  return new Promise((resolve, reject) => stream.write(text, (err) => (err ? reject(err) : resolve())));
}
