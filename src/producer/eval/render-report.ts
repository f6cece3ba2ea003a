import { once } from 'node:events';
import { createWriteStream } from 'node:fs';

import { citeSource } from '../../shared/chunk-location.ts';
import type { CaseResult } from './case-result.ts';
import { isReportedOnly, type RunSummary } from './summarize.ts';

export interface ReportOptions {
  /** Jaeger UI base URL: each failed or errored case links to its trace. @defaultValue no links */
  jaegerUrl?: string;
}

/**
 * Characters of text kept per field in the page. Passed cases keep little (they are there to
 * be found by search); failed and errored ones keep enough to read why. This is what bounds
 * report.html (about 25 MB for 100,000 passed cases with string assertions; graded scores add
 * their reasons).
 */
const KEEP = {
  passed: { question: 100, answer: 100, expected: 0, reason: 80 },
  other: { question: 400, answer: 800, expected: 300, reason: 300 },
} as const;

/** Cases the table shows at once; the rest come with "show more" (search covers them all). */
const PAGE = 500;

/**
 * report.html: one self-contained file (inline CSS, JS and SVG; nothing loaded from the
 * network) with summary cards, a latency histogram, pass rate per metric (per variant when
 * the run has several) and a searchable, filterable table of every case, failed and errored
 * first. Written as a stream from `results` (called twice: failures, then passes), so the
 * CLI never holds the run; cases travel as compact JSON arrays rendered by a small script.
 */
export async function writeReport(
  path: string,
  summary: RunSummary,
  results: () => AsyncIterable<CaseResult>,
  options: ReportOptions = {},
): Promise<void> {
  const out = createWriteStream(path);
  const write = async (text: string) => {
    if (!out.write(text)) await once(out, 'drain');
  };
  await write(head(summary));
  let first = true;
  for (const passed of [false, true]) {
    for await (const r of results()) {
      if ((r.status === 'passed') !== passed) continue;
      const row = JSON.stringify(rowOf(r, options.jaegerUrl)).replace(/</g, '\\u003c');
      await write(first ? row : `,${row}`);
      first = false;
    }
  }
  await write(TAIL);
  out.end();
  await once(out, 'finish');
}

/**
 * One case as the page reads it: [id, status, question, answer, expected, scores, sources,
 * error, ms, trace, batch id].
 */
function rowOf(r: CaseResult, jaegerUrl: string | undefined): unknown[] {
  const keep = r.status === 'passed' ? KEEP.passed : KEEP.other;
  const scores = Object.entries(r.scores)
    .map(([k, v]) => {
      const d = r.scoreDetails?.[k];
      const failed = r.failedAssertions.includes(k) ? ' ✗' : '';
      const reason = d && keep.reason > 0 ? `\n  ${cut(d.reason, keep.reason)}` : '';
      return `${k} ${v}${d ? ` (${d.method})` : ''}${failed}${reason}`;
    })
    .join('\n');
  const trace =
    jaegerUrl && r.traceId && r.status !== 'passed'
      ? `${jaegerUrl.replace(/\/$/, '')}/trace/${r.traceId}`
      : '';
  return [
    r.id,
    r.status,
    cut(r.question, keep.question),
    cut(r.answer, keep.answer),
    cut([r.expected ?? []].flat().join(' | '), keep.expected),
    scores,
    r.status === 'passed' ? '' : r.sources.map(citeSource).join('\n'),
    cut(r.error ?? '', 1000),
    Math.round(r.timings.totalMs),
    trace,
    r.batchId ?? '',
  ];
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, Math.max(0, max - 1))}…` : text;
}

function head(summary: RunSummary): string {
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
    ...(summary.grader.models.length > 0
      ? ([
          ['Grader tokens', `${summary.grader.tokens.input} / ${summary.grader.tokens.output}`],
          ['Grader cost', `$${summary.grader.costUsd.toFixed(4)}`],
        ] as [string, string][])
      : []),
    ...(summary.batch
      ? ([
          ['Answered by batch', String(summary.batch.answered)],
          ['Cost online', `$${summary.batch.onlineCostUsd.toFixed(4)}`],
        ] as [string, string][])
      : []),
    ['Wall time', `${summary.wallSeconds.toFixed(1)} s`],
    ['Throughput', `${summary.throughput.toFixed(1)} /s`],
  ];
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
th{background:#eef0f6;position:sticky;top:0}td.q,td.a,td.s{max-width:420px;white-space:pre-wrap}
.passed{color:#17803d}.failed{color:#b45309}.error{color:#b91c1c}.controls{display:flex;gap:10px;margin:8px 0}
input,select,button{font:inherit;padding:4px 8px}code{font-size:12px}
</style></head><body>
<h1>askq evaluation <code>${esc(summary.runId)}</code></h1>
<div class="muted">${esc(summary.file)}${summary.stoppedBy ? ' · stopped by --max-cost' : ''}</div>
<h2>Summary</h2>
<div class="cards">${cards.map(([k, v]) => `<div class="card">${esc(k)}<b>${esc(v)}</b></div>`).join('')}</div>
${variantTable(summary)}
<div class="charts">
<div class="chart"><h2>Latency (total per case)</h2>${histogram(summary.latencyHistogram)}</div>
<div class="chart"><h2>Pass rate per metric</h2>${metricBars(summary)}</div>
</div>
<h2>Cases</h2>
<div class="controls">
<input id="search" type="search" placeholder="Search question, answer, id…" aria-label="search">
<select id="status" aria-label="status"><option value="">all statuses</option><option>passed</option><option>failed</option><option>error</option></select>
<span id="count" class="muted"></span>
</div>
<p class="muted">Failed and errored cases come first, with their reasons; passed cases keep the start of their text (results.jsonl has it all).</p>
<table id="cases"><thead><tr><th>id</th><th>status</th><th>question</th><th>answer</th><th>expected</th><th>scores</th><th>sources</th><th>error</th><th>ms</th></tr></thead><tbody></tbody></table>
<p><button id="more" type="button" hidden>show more</button></p>
<script type="application/json" id="data">[`;
}

const TAIL = `]</script>
<script>
(function(){
var rows=JSON.parse(document.getElementById('data').textContent);
var body=document.querySelector('#cases tbody'),search=document.getElementById('search'),status=document.getElementById('status'),count=document.getElementById('count'),more=document.getElementById('more');
var matches=[],shown=0,PAGE=${PAGE};
function cell(text,cls){var td=document.createElement('td');if(cls)td.className=cls;td.textContent=text;return td;}
function row(r){
  var tr=document.createElement('tr');tr.dataset.status=r[1];
  var id=cell('');if(r[9]){var a=document.createElement('a');a.href=r[9];a.textContent=r[0];a.title='trace in Jaeger';id.appendChild(a);}else id.textContent=r[0];
  tr.appendChild(id);var st=cell(r[1]+(r[10]?' · batch':''),r[1]);if(r[10])st.title='answered by batch '+r[10];tr.appendChild(st);tr.appendChild(cell(r[2],'q'));tr.appendChild(cell(r[3],'a'));tr.appendChild(cell(r[4]));
  tr.appendChild(cell(r[5],'s'));tr.appendChild(cell(r[6]));tr.appendChild(cell(r[7],'error'));tr.appendChild(cell(String(r[8])));
  return tr;
}
function page(){
  var frag=document.createDocumentFragment(),end=Math.min(matches.length,shown+PAGE);
  for(var i=shown;i<end;i++)frag.appendChild(row(matches[i]));
  body.appendChild(frag);shown=end;more.hidden=shown>=matches.length;
  count.textContent=matches.length+' of '+rows.length+' cases'+(shown<matches.length?' (showing '+shown+')':'');
}
function render(){
  var q=search.value.trim().toLowerCase(),s=status.value;
  matches=rows.filter(function(r){
    if(s&&r[1]!==s)return false;
    return !q||(r[0]+' '+r[2]+' '+r[3]+' '+r[4]+' '+r[7]).toLowerCase().indexOf(q)>=0;
  });
  body.replaceChildren();shown=0;page();
}
search.addEventListener('input',render);status.addEventListener('change',render);more.addEventListener('click',page);render();
})();
</script>
</body></html>
`;

/** Per variant, pass rate and each metric's mean with their 95% intervals, side by side. */
function variantTable(summary: RunSummary): string {
  const variants = Object.entries(summary.variants ?? {});
  if (variants.length < 2) return '';
  const keys = [...new Set(variants.flatMap(([, v]) => Object.keys(v.metrics)))].sort();
  const ci = (m: { value: number; low: number; high: number }) =>
    `${m.value.toFixed(3)} <span class="muted">[${m.low.toFixed(3)}, ${m.high.toFixed(3)}]</span>`;
  const head = `<tr><th>variant</th><th>cases</th><th>pass rate (95% CI)</th>${keys.map((k) => `<th>${esc(k)} mean (95% CI)</th>`).join('')}</tr>`;
  const body = variants
    .map(
      ([name, v]) =>
        `<tr><td>${esc(name)}</td><td>${v.completed}</td><td>${ci(v.passRate)}</td>${keys
          .map((k) => `<td>${v.metrics[k] ? ci(v.metrics[k].mean) : '—'}</td>`)
          .join('')}</tr>`,
    )
    .join('');
  return `<h2>Variants</h2><table id="variants">${head}${body}</table>`;
}

/** An SVG histogram of latencies from the summary's buckets. */
function histogram(h: RunSummary['latencyHistogram']): string {
  if (!h || h.counts.every((c) => c === 0)) return '<p class="muted">no answered cases</p>';
  const top = Math.max(...h.counts);
  const bars = h.counts
    .map((c, i) => {
      const height = Math.round((c / top) * 120);
      return `<rect x="${i * 30 + 4}" y="${130 - height}" width="26" height="${height}" fill="#4f6bed"><title>${ms(i * h.bucketMs)}–${ms((i + 1) * h.bucketMs)}: ${c}</title></rect>`;
    })
    .join('');
  return `<svg width="370" height="160" role="img" aria-label="latency histogram">${bars}<text x="4" y="150" font-size="11">0</text><text x="300" y="150" font-size="11">${esc(ms(h.bucketMs * h.counts.length))}</text></svg>`;
}

/** Horizontal SVG bars of each metric's pass rate. */
function metricBars(summary: RunSummary): string {
  const entries = Object.entries(summary.metrics);
  if (entries.length === 0) return '<p class="muted">no scored assertions</p>';
  const bars = entries
    .map(([key, m], i) => {
      const y = i * 24 + 4;
      const label = `<text x="0" y="${y + 14}" font-size="12">${esc(key)}</text>`;
      // No pass-rate bar for a metric nothing gates: it would be full whatever the scores.
      if (isReportedOnly(key, m)) {
        return `${label}<text x="120" y="${y + 14}" font-size="12">mean ${m.mean.toFixed(2)} · reported, not gated</text>`;
      }
      const w = Math.round(m.passRate * 200);
      return `${label}<rect x="120" y="${y}" width="200" height="18" fill="#e4e6ee"/><rect x="120" y="${y}" width="${w}" height="18" fill="#17803d"/><text x="326" y="${y + 14}" font-size="12">${(m.passRate * 100).toFixed(0)}% (mean ${m.mean.toFixed(2)})</text>`;
    })
    .join('');
  return `<svg width="490" height="${entries.length * 24 + 8}" role="img" aria-label="pass rate per metric">${bars}</svg>`;
}

function ms(value: number): string {
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`;
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
