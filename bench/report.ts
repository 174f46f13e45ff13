import type { WrkResult } from './wrk-result.js';

export interface RoundResult {
  round: number;
  /** A backend id of either suite (BackendId in the uwsgi suite, TargetId in the gateway suite). */
  backend: string;
  wrk: WrkResult;
  /** CPU microseconds per request the backend (with its children) and its nginx used in the round. */
  backendCpuUs: number;
  nginxCpuUs: number;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function fmtRps(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toString() : '-';
}

export function fmtMs(n: number): string {
  return Number.isFinite(n) ? `${n.toFixed(2)}ms` : '-';
}

export function fmtUs(n: number): string {
  return Number.isFinite(n) ? `${n.toFixed(1)}us` : '-';
}

export function fmtRatio(n: number): string {
  return Number.isFinite(n) ? `${n.toFixed(2)}x` : '-';
}

export function roundLine(r: RoundResult): string {
  const w = r.wrk;
  const errs = w.non2xx + w.socketErrors > 0 ? `  ERRORS: ${w.non2xx} non-2xx/3xx; ${w.socketErrorDetail || 'no socket errors'}` : '';
  return (
    `round ${r.round} ${r.backend.padEnd(8)} ${fmtRps(w.requestsPerSec).padStart(7)} req/s  p50 ${fmtMs(w.latencyP50Ms).padStart(9)}  ` +
    `p99 ${fmtMs(w.latencyP99Ms).padStart(9)}  cpu/req backend ${fmtUs(r.backendCpuUs).padStart(7)} nginx ${fmtUs(r.nginxCpuUs).padStart(7)}  ` +
    `(${w.requests} requests)${errs}`
  );
}

export interface Summary {
  backend: string;
  label: string;
  medianRps: number;
  minRps: number;
  maxRps: number;
  medianP50: number;
  medianP99: number;
  medianBackendCpuUs: number;
  medianNginxCpuUs: number;
  non2xx: number;
  socketErrors: number;
  rounds: number;
}

export function summarize(backend: string, label: string, results: readonly RoundResult[]): Summary {
  const mine = results.filter((r) => r.backend === backend);
  const rps = mine.map((r) => r.wrk.requestsPerSec);
  return {
    backend,
    label,
    medianRps: median(rps),
    minRps: rps.length ? Math.min(...rps) : NaN,
    maxRps: rps.length ? Math.max(...rps) : NaN,
    medianP50: median(mine.map((r) => r.wrk.latencyP50Ms)),
    medianP99: median(mine.map((r) => r.wrk.latencyP99Ms)),
    medianBackendCpuUs: median(mine.map((r) => r.backendCpuUs)),
    medianNginxCpuUs: median(mine.map((r) => r.nginxCpuUs)),
    non2xx: mine.reduce((a, r) => a + r.wrk.non2xx, 0),
    socketErrors: mine.reduce((a, r) => a + r.wrk.socketErrors, 0),
    rounds: mine.length,
  };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

/** A backend with any non-2xx/3xx response or socket error in any round has no rate: it failed. */
export function failed(s: Summary): boolean {
  return s.non2xx + s.socketErrors > 0;
}

export function summaryTable(sums: readonly Summary[], cpuHeads: readonly [string, string] = ['backend cpu/req', 'nginx cpu/req']): string {
  const rows = [['backend', 'median req/s', 'min..max req/s', 'median p50', 'median p99', ...cpuHeads, 'non-2xx', 'sock err', 'rounds']];
  for (const s of sums) {
    rows.push([
      `${s.backend} (${s.label})`,
      failed(s) ? 'FAILED' : fmtRps(s.medianRps),
      `${fmtRps(s.minRps)}..${fmtRps(s.maxRps)}`,
      fmtMs(s.medianP50),
      fmtMs(s.medianP99),
      fmtUs(s.medianBackendCpuUs),
      fmtUs(s.medianNginxCpuUs),
      String(s.non2xx),
      String(s.socketErrors),
      String(s.rounds),
    ]);
  }
  return table(rows);
}

const UWSGI_PAIRS: ReadonlyArray<readonly [string, string]> = [
  ['portico', 'bare'],
  ['portico', 'uwsgi'],
  ['bare', 'uwsgi'],
];

export function ratioTable(sums: readonly Summary[], pairs: ReadonlyArray<readonly [string, string]> = UWSGI_PAIRS, cpuHead = 'backend cpu/req'): string {
  const by = new Map(sums.map((s) => [s.backend, s]));
  const rows = [['ratio', 'median req/s', 'median p50', 'median p99', cpuHead]];
  for (const [a, b] of pairs) {
    const x = by.get(a);
    const y = by.get(b);
    if (!x || !y) continue;
    rows.push([
      `${a}/${b}`,
      failed(x) || failed(y) ? 'FAILED' : fmtRatio(x.medianRps / y.medianRps),
      fmtRatio(x.medianP50 / y.medianP50),
      fmtRatio(x.medianP99 / y.medianP99),
      fmtRatio(x.medianBackendCpuUs / y.medianBackendCpuUs),
    ]);
  }
  return rows.length > 1 ? table(rows) : '(ratios need at least two backends)';
}
