import type { MasterStatsJson, WorkerStatsJson } from '../master/master-stats.js';

export interface RenderOptions {
  /** Cut every line to this many columns (the terminal's width); unset: never cut. */
  width?: number;
  /** Inverse-video table header (only when writing to a terminal). */
  ansi?: boolean;
}

/**
 * One screen of `portico top`, as text. Pure, so the tests can feed it two documents: req/s is the
 * request-count difference between the previous poll and this one over `elapsedMs`; without a
 * previous poll (--once, or the first screen) there is no rate and it shows "-".
 */
export function renderTop(prev: MasterStatsJson | null, cur: MasterStatsJson, elapsedMs: number, opts: RenderOptions = {}): string {
  const rates = requestRates(prev, cur, elapsedMs);
  const total = cur.workers.reduce((n, w) => n + w.requests, 0);
  const busy = cur.workers.filter((w) => w.status === 'busy').length;
  // Slots with no process (--cheap, --cheaper) are listed, but are not workers.
  const cheap = cur.workers.filter((w) => w.status === 'cheap').length;
  const sockets = cur.sockets.map((s) => `${s.name} (${s.proto})`).join(', ') || '-';
  // Upgraded connections (WebSockets) across the workers, when there are any.
  const upgraded = cur.workers.reduce((n, w) => n + w.upgraded, 0);
  const header = [
    `portico ${cur.version} - master pid ${cur.pid} - sockets: ${sockets}`,
    `requests: ${total}  req/s: ${rates ? fixed(rates.total) : '-'}  workers: ${busy} busy / ${cur.workers.length - cheap} total${cheap ? ` (${cheap} cheap)` : ''}${upgraded > 0 ? `  upgraded: ${upgraded}` : ''}`,
    // One line per gateway process (serve --gateway-processes N), then per --cron task.
    ...(cur.gateways ?? []).map((g) => `gateway ${g.id}: pid ${g.pid} ${g.status}, queue ${g.queue}, ${g.respawns} respawn(s)`),
    ...(cur.cron ?? []).map((c) => `cron ${c.id}: '${c.when}' (${c.kind}) next ${c.next.slice(0, 16).replace('T', ' ')}Z, ${c.runs} run(s), ${c.skipped} skipped${c.running ? ', running' : ''}`),
    '',
  ];
  const rows: string[][] = cur.workers.map((w) => [
    String(w.id),
    String(w.pid),
    // Before --harakiri fires: the watchdog sees the heartbeat stop past the blocked threshold.
    w.health && w.health.blocked_ms > 0 ? `BLOCKED(${fixed(w.health.blocked_ms / 1000)}s)` : w.status,
    String(w.requests),
    rates ? fixed(rates.byPid.get(w.pid) ?? 0) : '-',
    String(w.in_flight),
    String(w.exceptions),
    String(w.harakiri_count),
    String(w.respawn_count),
    fixed(w.rss / MB),
    fixed(w.avg_rt / 1000),
    formatDuration(w.running_time / 1e6),
    w.health ? fixed(w.health.loop_delay_p99_ms) : '-',
    w.health ? String(Math.round(w.health.loop_utilization * 100)) : '-',
    w.health ? `${fixed(w.health.heap_used / MB)}/${Math.round(w.health.heap_limit / MB)}` : '-',
    w.health ? fixed(w.health.gc_max_pause_ms) : '-',
    currentRequest(w),
  ]);
  let table = formatTable(COLUMNS, rows);
  if (opts.width !== undefined) {
    // CURRENT is the last column: shorten the URI to what is left of the line so the request's
    // running time, the number to watch for a stuck request, stays on screen.
    const room = opts.width - table[0]!.indexOf('CURRENT');
    rows.forEach((r, i) => (r[r.length - 1] = currentRequest(cur.workers[i]!, room)));
    table = formatTable(COLUMNS, rows);
  }
  const lines = [...header, ...table].map((l) => cut(l, opts.width));
  // Cut first: the escapes take no columns on screen but would count in the cut.
  if (opts.ansi) lines[header.length] = `\x1b[7m${lines[header.length]!}\x1b[0m`;
  return lines.join('\n') + '\n';
}

interface Column {
  title: string;
  /** Numbers are right-aligned so their digits line up. */
  right: boolean;
}

const COLUMNS: Column[] = [
  { title: 'WID', right: true },
  { title: 'PID', right: true },
  { title: 'STATUS', right: false },
  { title: 'REQ', right: true },
  { title: 'REQ/S', right: true },
  { title: 'INFL', right: true },
  { title: 'EXC', right: true },
  { title: 'HARAKIRI', right: true },
  { title: 'RESPAWN', right: true },
  { title: 'RSS(MB)', right: true },
  { title: 'AVG(ms)', right: true },
  { title: 'RUNNING', right: true },
  // The app thread's health over the last second (docs/diagnostics.md): event-loop delay p99,
  // event-loop utilisation, heap used / limit, longest GC pause.
  { title: 'LAG99(ms)', right: true },
  { title: 'ELU%', right: true },
  { title: 'HEAP(MB)', right: true },
  { title: 'GC(ms)', right: true },
  { title: 'CURRENT', right: false },
];

/**
 * Per-worker and total req/s. Workers are matched by pid, not id: a respawned worker keeps its id
 * but starts counting from 0, so its whole count is new since the last poll (a smaller count from
 * the same id would otherwise read as a negative rate).
 */
function requestRates(prev: MasterStatsJson | null, cur: MasterStatsJson, elapsedMs: number): { total: number; byPid: Map<number, number> } | null {
  if (!prev || elapsedMs <= 0) return null;
  const before = new Map(prev.workers.map((w) => [w.pid, w.requests]));
  const byPid = new Map<number, number>();
  let total = 0;
  for (const w of cur.workers) {
    const delta = Math.max(0, w.requests - (before.get(w.pid) ?? 0));
    const rate = (delta * 1000) / elapsedMs;
    byPid.set(w.pid, rate);
    total += rate;
  }
  return { total, byPid };
}

function currentRequest(w: WorkerStatsJson, room = Infinity): string {
  // The watchdog thread did not answer: the counters are zeros, not the worker's real state.
  if (!w.responsive) return '(no answer from the worker)';
  const r = w.current_request;
  if (!r) return '';
  const time = `(${(r.running_ms / 1000).toFixed(1)} s)`;
  const full = `${r.method} ${r.uri} ${time}`;
  const uriRoom = room - (r.method.length + time.length + 3);
  return full.length <= room || uriRoom < 4 ? full : `${r.method} ${r.uri.slice(0, uriRoom)}… ${time}`;
}

const MB = 1024 * 1024;

function fixed(n: number): string {
  return n.toFixed(1);
}

/** "42s", "3m05s", "2h03m", "4d07h": the two largest units, like ps's etime but shorter. */
function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${pad(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86400)}d${pad(Math.floor(s / 3600) % 24)}h`;
}

function formatTable(columns: Column[], rows: string[][]): string[] {
  const widths = columns.map((c, i) => Math.max(c.title.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (columns[i]!.right ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.title)), ...rows.map(line)];
}

function cut(line: string, width: number | undefined): string {
  return width !== undefined && line.length > width ? line.slice(0, width) : line;
}
