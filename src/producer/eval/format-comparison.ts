import { type CaseChange, fmtP, type RunComparison, signed } from './compare-runs.ts';

/** The comparison as a person reads it in a terminal. */
export function formatComparison(c: RunComparison, maxCases = 20): string {
  const pct = (n: number) => `${(n * 100).toFixed(1)}%`;
  const pt = (n: number) => `${n >= 0 ? '+' : ''}${(n * 100).toFixed(1)} pt`;
  const p = c.passRate;
  const lines = [
    `compare ${c.a} (a) → ${c.b} (b): ${c.paired} cases in both` +
      (c.onlyInA || c.onlyInB ? ` (only in a ${c.onlyInA}, only in b ${c.onlyInB})` : ''),
    `pass rate    ${pct(p.a)} → ${pct(p.b)} (${pt(p.delta.value)}, 95% CI ${pt(p.delta.low)} … ${pt(p.delta.high)})`,
    `flips        ${c.regressed.length} regressed, ${c.improved.length} improved (McNemar exact p ${fmtP(p.mcnemarP)})`,
  ];
  for (const [key, m] of Object.entries(c.metrics)) {
    lines.push(
      `  ${key.padEnd(18)} mean ${m.a.toFixed(3)} → ${m.b.toFixed(3)} ` +
        `(${signed(m.delta.value)}, 95% CI ${signed(m.delta.low)} … ${signed(m.delta.high)}, n ${m.n})`,
    );
  }
  lines.push(
    `latency p50 ${Math.round(c.latencyMs.p50.a)} → ${Math.round(c.latencyMs.p50.b)} ms, ` +
      `p95 ${Math.round(c.latencyMs.p95.a)} → ${Math.round(c.latencyMs.p95.b)} ms · ` +
      `cost $${c.costUsd.a.toFixed(4)} → $${c.costUsd.b.toFixed(4)}`,
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
  if (c.regressions.length === 0) {
    lines.push(
      `no regression beyond noise (α ${c.alpha}${c.maxDrop === undefined ? '' : `, --max-drop ${c.maxDrop}`})`,
    );
  }
  for (const r of c.regressions) lines.push(`REGRESSION: ${r.text}`);
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
        `<tr><td>${esc(k)}</td><td>${m.a.toFixed(3)}</td><td>${m.b.toFixed(3)}</td><td class="${m.delta.high < 0 ? 'neg' : m.delta.low > 0 ? 'pos' : ''}">${signed(m.delta.value)}</td><td>${signed(m.delta.low)} … ${signed(m.delta.high)}</td><td>${m.n}</td></tr>`,
    )
    .join('');
  const p = c.passRate;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>askq compare ${esc(c.a)} → ${esc(c.b)}</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:24px}table{border-collapse:collapse;margin-bottom:16px}td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left}.neg{color:#b91c1c}.pos{color:#17803d}</style></head><body>
<h1>Compare <code>${esc(c.a)}</code> → <code>${esc(c.b)}</code></h1>
<p>${c.paired} cases in both. Pass rate ${(p.a * 100).toFixed(1)}% → ${(p.b * 100).toFixed(1)}%
(${signed(p.delta.value * 100, 1)} pt, 95% CI ${signed(p.delta.low * 100, 1)} … ${signed(p.delta.high * 100, 1)});
${c.regressed.length} regressed, ${c.improved.length} improved, McNemar exact p ${fmtP(p.mcnemarP)}.</p>
${c.regressions.length > 0 ? `<ul class="neg">${c.regressions.map((r) => `<li>Regression: ${esc(r.text)}</li>`).join('')}</ul>` : `<p class="pos">No regression beyond noise (α ${c.alpha}).</p>`}
<h2>Metrics (b − a, paired bootstrap)</h2><table><tr><th>metric</th><th>mean a</th><th>mean b</th><th>Δ</th><th>95% CI</th><th>n</th></tr>${metricRows}</table>
<h2 class="neg">Regressed (${c.regressed.length})</h2><table>${rows(c.regressed)}</table>
<h2 class="pos">Improved (${c.improved.length})</h2><table>${rows(c.improved)}</table>
</body></html>
`;
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}
