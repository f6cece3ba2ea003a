import { citeSource } from '../../shared/chunk-location.ts';
import type { CaseResult } from './case-result.ts';
import type { RunSummary } from './summarize.ts';

export interface ReportOptions {
  /** Jaeger UI base URL: each case links to its trace. @defaultValue no links */
  jaegerUrl?: string;
  /** Cases embedded in the table (errors and failures first). @defaultValue 10000 */
  maxRows?: number;
}

export const REPORT_DEFAULTS = { maxRows: 10_000 } satisfies ReportOptions;

/**
 * report.html: one self-contained file (inline CSS, JS and SVG; nothing loaded from the
 * network) with summary cards, a latency histogram, pass rate per metric and a searchable,
 * filterable table of cases. The cases travel as JSON inside the page and are rendered by a
 * small script, so the HTML stays small and the table filters without a server.
 */
export function renderReport(
  summary: RunSummary,
  results: readonly CaseResult[],
  options: ReportOptions = {},
): string {
  const maxRows = options.maxRows ?? REPORT_DEFAULTS.maxRows;
  const order = { error: 0, failed: 1, passed: 2 } as const;
  const rows = [...results]
    .sort((a, b) => order[a.status] - order[b.status] || a.id.localeCompare(b.id))
    .slice(0, maxRows)
    .map((r) => ({
      id: r.id,
      status: r.status,
      question: r.question,
      answer: r.answer,
      expected: [r.expected ?? []].flat().join(' | '),
      scores: r.scores,
      failed: r.failedAssertions,
      sources: r.sources.map(citeSource),
      error: r.error ?? '',
      totalMs: r.timings.totalMs,
      attempts: r.attempts,
      trace:
        options.jaegerUrl && r.traceId
          ? `${options.jaegerUrl.replace(/\/$/, '')}/trace/${r.traceId}`
          : '',
    }));
  const cards: [string, string][] = [
    ['Pass rate', `${(summary.passRate * 100).toFixed(1)}%`],
    ['Cases', `${summary.completed} / ${summary.valid}`],
    ['Passed', String(summary.passed)],
    ['Failed', String(summary.failed)],
    ['Errors', String(summary.errored)],
    ['Invalid rows', String(summary.invalid)],
    ['p50 / p95', `${ms(summary.latency.total.p50)} / ${ms(summary.latency.total.p95)}`],
    ['Tokens in / out', `${summary.tokens.input} / ${summary.tokens.output}`],
    ['Est. cost', `$${summary.costUsd.toFixed(4)}`],
    ['Wall time', `${summary.wallSeconds.toFixed(1)} s`],
    ['Throughput', `${summary.throughput.toFixed(1)} /s`],
  ];
  const data = JSON.stringify(rows).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>askq eval ${esc(summary.runId)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2330;background:#f6f7fb}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}.muted{color:#667}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{background:#fff;border-radius:8px;padding:10px 14px;box-shadow:0 1px 2px #0002;min-width:110px}
.card b{display:block;font-size:18px}.charts{display:flex;flex-wrap:wrap;gap:24px}.chart{background:#fff;border-radius:8px;padding:10px;box-shadow:0 1px 2px #0002}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0002}th,td{padding:6px 8px;border-bottom:1px solid #e4e6ee;vertical-align:top;text-align:left}
th{background:#eef0f6;position:sticky;top:0}td.q,td.a{max-width:420px;white-space:pre-wrap}
.passed{color:#17803d}.failed{color:#b45309}.error{color:#b91c1c}.controls{display:flex;gap:10px;margin:8px 0}
input,select{font:inherit;padding:4px 8px}code{font-size:12px}
</style></head><body>
<h1>askq evaluation <code>${esc(summary.runId)}</code></h1>
<div class="muted">${esc(summary.file)}${summary.stoppedBy ? ' · stopped by --max-cost' : ''}</div>
<h2>Summary</h2>
<div class="cards">${cards.map(([k, v]) => `<div class="card">${esc(k)}<b>${esc(v)}</b></div>`).join('')}</div>
<div class="charts">
<div class="chart"><h2>Latency (total per case)</h2>${histogram(results.filter((r) => r.status !== 'error').map((r) => r.timings.totalMs))}</div>
<div class="chart"><h2>Pass rate per metric</h2>${metricBars(summary)}</div>
</div>
<h2>Cases</h2>
<div class="controls">
<input id="search" type="search" placeholder="Search question, answer, id…" aria-label="search">
<select id="status" aria-label="status"><option value="">all statuses</option><option>passed</option><option>failed</option><option>error</option></select>
<span id="count" class="muted"></span>
</div>
${results.length > rows.length ? `<p class="muted">Showing ${rows.length} of ${results.length} cases (errors and failures first); results.jsonl has them all.</p>` : ''}
<table id="cases"><thead><tr><th>id</th><th>status</th><th>question</th><th>answer</th><th>expected</th><th>scores</th><th>sources</th><th>error</th><th>ms</th></tr></thead><tbody></tbody></table>
<script type="application/json" id="data">${data}</script>
<script>
(function(){
var rows=JSON.parse(document.getElementById('data').textContent);
var body=document.querySelector('#cases tbody'),search=document.getElementById('search'),status=document.getElementById('status'),count=document.getElementById('count');
function cell(text,cls){var td=document.createElement('td');if(cls)td.className=cls;td.textContent=text;return td;}
function render(){
  var q=search.value.trim().toLowerCase(),s=status.value,shown=0,frag=document.createDocumentFragment();
  rows.forEach(function(r){
    if(s&&r.status!==s)return;
    if(q&&(r.id+' '+r.question+' '+r.answer+' '+r.expected+' '+r.error).toLowerCase().indexOf(q)<0)return;
    shown++;var tr=document.createElement('tr');tr.dataset.status=r.status;
    var id=cell('');if(r.trace){var a=document.createElement('a');a.href=r.trace;a.textContent=r.id;a.title='trace in Jaeger';id.appendChild(a);}else id.textContent=r.id;
    tr.appendChild(id);tr.appendChild(cell(r.status,r.status));tr.appendChild(cell(r.question,'q'));tr.appendChild(cell(r.answer,'a'));tr.appendChild(cell(r.expected));
    tr.appendChild(cell(Object.keys(r.scores).map(function(k){return k+' '+r.scores[k]+(r.failed.indexOf(k)>=0?' ✗':'');}).join('\\n')));
    tr.appendChild(cell(r.sources.join('\\n')));tr.appendChild(cell(r.error,'error'));tr.appendChild(cell(String(Math.round(r.totalMs))));
    frag.appendChild(tr);
  });
  body.replaceChildren(frag);count.textContent=shown+' of '+rows.length+' cases';
}
search.addEventListener('input',render);status.addEventListener('change',render);render();
})();
</script>
</body></html>
`;
}

/** An SVG histogram of latencies in 12 buckets. */
function histogram(values: number[]): string {
  if (values.length === 0) return '<p class="muted">no answered cases</p>';
  const buckets = 12;
  const max = Math.max(...values, 1);
  const width = max / buckets;
  const counts = new Array<number>(buckets).fill(0);
  for (const v of values) counts[Math.min(buckets - 1, Math.floor(v / width))]! += 1;
  const top = Math.max(...counts);
  const bars = counts
    .map((c, i) => {
      const h = Math.round((c / top) * 120);
      return `<rect x="${i * 30 + 4}" y="${130 - h}" width="26" height="${h}" fill="#4f6bed"><title>${ms(i * width)}–${ms((i + 1) * width)}: ${c}</title></rect>`;
    })
    .join('');
  return `<svg width="370" height="160" role="img" aria-label="latency histogram">${bars}<text x="4" y="150" font-size="11">0</text><text x="300" y="150" font-size="11">${esc(ms(max))}</text></svg>`;
}

/** Horizontal SVG bars of each metric's pass rate. */
function metricBars(summary: RunSummary): string {
  const entries = Object.entries(summary.metrics);
  if (entries.length === 0) return '<p class="muted">no scored assertions</p>';
  const bars = entries
    .map(([key, m], i) => {
      const y = i * 24 + 4;
      const w = Math.round(m.passRate * 200);
      return `<text x="0" y="${y + 14}" font-size="12">${esc(key)}</text><rect x="90" y="${y}" width="200" height="18" fill="#e4e6ee"/><rect x="90" y="${y}" width="${w}" height="18" fill="#17803d"/><text x="296" y="${y + 14}" font-size="12">${(m.passRate * 100).toFixed(0)}% (mean ${m.mean.toFixed(2)})</text>`;
    })
    .join('');
  return `<svg width="460" height="${entries.length * 24 + 8}" role="img" aria-label="pass rate per metric">${bars}</svg>`;
}

function ms(value: number): string {
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`;
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
