import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time of a process and its descendants from /proc (Linux), so each round can say how many
 * microseconds of CPU the backend and its nginx spent per request. On two cores wrk, nginx and the
 * backend compete for CPU, so req/s alone blurs how much each side costs.
 */
let ticksPerSecond: number | null = null;

function clkTck(): number {
  if (ticksPerSecond === null) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

interface Stat {
  ppid: number;
  ticks: number;
}

function readStat(pid: number): Stat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name is in parentheses and may itself contain spaces or parentheses.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // After the name: state(0) ppid(1) ... utime(11) stime(12).
  return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) };
}

/** CPU seconds (user + system) used so far by `root` and every process below it. */
export function treeCpuSeconds(root: number): number {
  const stats = new Map<number, Stat>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return NaN;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s) stats.set(Number(name), s);
  }
  if (!stats.has(root)) return NaN;
  let ticks = 0;
  for (const [pid, s] of stats) {
    let p: number | undefined = pid;
    let hops = 0;
    while (p !== undefined && p !== root && p > 1 && hops++ < 64) p = stats.get(p)?.ppid;
    if (p === root) ticks += s.ticks;
  }
  return ticks / clkTck();
}

/** CPU seconds (user + system) used so far by `pid` alone, without its children. */
export function ownCpuSeconds(pid: number): number {
  const s = readStat(pid);
  return s ? s.ticks / clkTck() : NaN;
}
