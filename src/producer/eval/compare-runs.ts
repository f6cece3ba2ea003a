import type { CaseResult, CaseStatus } from './case-result.ts';
import type { RunSummary } from './summarize.ts';

/** A run as compared: its summary and its results by case id. */
export interface ComparedRun {
  summary: RunSummary;
  results: Map<string, CaseResult>;
}

export interface CaseChange {
  id: string;
  question: string;
  from: CaseStatus;
  to: CaseStatus;
}

export interface RunComparison {
  a: string;
  b: string;
  passRate: { a: number; b: number; delta: number };
  /** Per metric in either run: mean score and pass rate in each, and the deltas (b - a). */
  metrics: Record<
    string,
    {
      meanA?: number;
      meanB?: number;
      meanDelta?: number;
      passRateA?: number;
      passRateB?: number;
      passRateDelta?: number;
    }
  >;
  /** Passed in a, not passed in b. */
  regressed: CaseChange[];
  /** Not passed in a, passed in b. */
  improved: CaseChange[];
  /** Cases only one of the runs has. */
  onlyInA: number;
  onlyInB: number;
  latencyMs: { p50: Delta; p95: Delta };
  costUsd: Delta;
}

export interface Delta {
  a: number;
  b: number;
  delta: number;
}

/** Compares run b against run a (the baseline), case by case on the cases both ran. */
export function compareRuns(a: ComparedRun, b: ComparedRun): RunComparison {
  const regressed: CaseChange[] = [];
  const improved: CaseChange[] = [];
  let onlyInA = 0;
  for (const [id, ra] of a.results) {
    const rb = b.results.get(id);
    if (!rb) {
      onlyInA += 1;
      continue;
    }
    const change = { id, question: rb.question, from: ra.status, to: rb.status };
    if (ra.status === 'passed' && rb.status !== 'passed') regressed.push(change);
    if (ra.status !== 'passed' && rb.status === 'passed') improved.push(change);
  }
  const onlyInB = [...b.results.keys()].filter((id) => !a.results.has(id)).length;
  const metrics: RunComparison['metrics'] = {};
  const keys = new Set([...Object.keys(a.summary.metrics), ...Object.keys(b.summary.metrics)]);
  for (const key of [...keys].sort()) {
    const ma = a.summary.metrics[key];
    const mb = b.summary.metrics[key];
    metrics[key] = {
      ...(ma ? { meanA: ma.mean, passRateA: ma.passRate } : {}),
      ...(mb ? { meanB: mb.mean, passRateB: mb.passRate } : {}),
      ...(ma && mb
        ? { meanDelta: round(mb.mean - ma.mean), passRateDelta: round(mb.passRate - ma.passRate) }
        : {}),
    };
  }
  return {
    a: a.summary.runId,
    b: b.summary.runId,
    passRate: delta(a.summary.passRate, b.summary.passRate),
    metrics,
    regressed,
    improved,
    onlyInA,
    onlyInB,
    latencyMs: {
      p50: delta(a.summary.latency.total.p50, b.summary.latency.total.p50),
      p95: delta(a.summary.latency.total.p95, b.summary.latency.total.p95),
    },
    costUsd: delta(a.summary.costUsd, b.summary.costUsd),
  };
}

/** The comparison as a person reads it in a terminal. */
export function formatComparison(c: RunComparison, maxCases = 20): string {
  const pct = (n: number) => `${(n * 100).toFixed(1)}%`;
  const signed = (n: number, f: (n: number) => string) => `${n >= 0 ? '+' : ''}${f(n)}`;
  const lines = [
    `compare ${c.a} (a) → ${c.b} (b)`,
    `pass rate   ${pct(c.passRate.a)} → ${pct(c.passRate.b)} (${signed(c.passRate.delta, pct)})`,
  ];
  for (const [key, m] of Object.entries(c.metrics)) {
    lines.push(
      `  ${key.padEnd(12)} mean ${fmt(m.meanA)} → ${fmt(m.meanB)}` +
        (m.meanDelta === undefined ? '' : ` (${signed(m.meanDelta, (n) => n.toFixed(3))})`) +
        `, pass ${m.passRateA === undefined ? '—' : pct(m.passRateA)} → ${m.passRateB === undefined ? '—' : pct(m.passRateB)}`,
    );
  }
  lines.push(
    `latency p50 ${Math.round(c.latencyMs.p50.a)} → ${Math.round(c.latencyMs.p50.b)} ms (${signed(Math.round(c.latencyMs.p50.delta), String)}), ` +
      `p95 ${Math.round(c.latencyMs.p95.a)} → ${Math.round(c.latencyMs.p95.b)} ms (${signed(Math.round(c.latencyMs.p95.delta), String)})`,
    `cost        $${c.costUsd.a.toFixed(4)} → $${c.costUsd.b.toFixed(4)} (${signed(c.costUsd.delta, (n) => `$${n.toFixed(4)}`)})`,
    `regressed   ${c.regressed.length}   improved ${c.improved.length}` +
      (c.onlyInA || c.onlyInB ? `   only in a ${c.onlyInA}, only in b ${c.onlyInB}` : ''),
  );
  for (const [label, list] of [
    ['regressed', c.regressed],
    ['improved', c.improved],
  ] as const) {
    for (const x of list.slice(0, maxCases)) {
      lines.push(
        `  ${label === 'regressed' ? '-' : '+'} ${x.id} (${x.from} → ${x.to}) ${x.question.slice(0, 80)}`,
      );
    }
    if (list.length > maxCases) lines.push(`  … ${list.length - maxCases} more ${label}`);
  }
  return lines.join('\n');
}

/** The comparison as a self-contained HTML page. */
export function renderComparisonHtml(c: RunComparison): string {
  const rows = (list: CaseChange[]) =>
    list
      .map(
        (x) =>
          `<tr><td>${esc(x.id)}</td><td>${x.from} → ${x.to}</td><td>${esc(x.question)}</td></tr>`,
      )
      .join('');
  const metricRows = Object.entries(c.metrics)
    .map(
      ([k, m]) =>
        `<tr><td>${esc(k)}</td><td>${fmt(m.meanA)}</td><td>${fmt(m.meanB)}</td><td>${fmt(m.meanDelta)}</td><td>${fmt(m.passRateA)}</td><td>${fmt(m.passRateB)}</td></tr>`,
    )
    .join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>askq compare ${esc(c.a)} → ${esc(c.b)}</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:24px}table{border-collapse:collapse;margin-bottom:16px}td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left}.neg{color:#b91c1c}.pos{color:#17803d}</style></head><body>
<h1>Compare <code>${esc(c.a)}</code> → <code>${esc(c.b)}</code></h1>
<p>Pass rate ${(c.passRate.a * 100).toFixed(1)}% → ${(c.passRate.b * 100).toFixed(1)}% <b class="${c.passRate.delta < 0 ? 'neg' : 'pos'}">(${c.passRate.delta >= 0 ? '+' : ''}${(c.passRate.delta * 100).toFixed(1)} pt)</b>;
latency p50 ${Math.round(c.latencyMs.p50.a)} → ${Math.round(c.latencyMs.p50.b)} ms; cost $${c.costUsd.a.toFixed(4)} → $${c.costUsd.b.toFixed(4)}</p>
<h2>Metrics</h2><table><tr><th>metric</th><th>mean a</th><th>mean b</th><th>Δ mean</th><th>pass a</th><th>pass b</th></tr>${metricRows}</table>
<h2 class="neg">Regressed (${c.regressed.length})</h2><table>${rows(c.regressed)}</table>
<h2 class="pos">Improved (${c.improved.length})</h2><table>${rows(c.improved)}</table>
</body></html>
`;
}

function delta(a: number, b: number): Delta {
  return { a, b, delta: round(b - a) };
}

function fmt(n: number | undefined): string {
  return n === undefined ? '—' : n.toFixed(3);
}

function round(n: number): number {
  return Math.round(n * 10_000) / 10_000;
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}
