import type { CaseResult } from '../producer/eval/index.ts';
import { citeSource as cite } from '../shared/chunk-location.ts';
import type { AnswerResult } from '../shared/contracts.ts';

/** An answer as a person reads it in a terminal: the text, its sources, and timings. */
export function formatAnswer(result: AnswerResult): string {
  const lines = [result.answer.trim(), ''];
  if (result.sources.length === 0) lines.push('  (no sources)');
  result.sources.forEach((s, i) => {
    const preview = s.text.replace(/\s+/g, ' ').slice(0, 80);
    lines.push(
      `  [${i + 1}] ${cite(s)}  score ${s.score.toFixed(3)}  ${preview}${s.text.length > 80 ? '…' : ''}`,
    );
  });
  const t = result.timings;
  lines.push(
    `  ${result.model}${result.degraded ? ` [degraded: ${result.degradedReason ?? 'retrieval_unavailable'}]` : ''} · ` +
      `queue ${ms(t.queueMs)} · retrieve ${ms(t.retrieveMs)} · generate ${ms(t.generateMs)} · ` +
      `total ${ms(t.totalMs)} · attempts ${result.attempts} · ` +
      `tokens ${result.usage.inputTokens} in / ${result.usage.outputTokens} out`,
  );
  return lines.join('\n');
}

/** One evaluated case: the answer, its sources, scores and timings. */
export function formatCase(c: CaseResult): string {
  const lines = [c.error ? `error: ${c.error}` : c.answer.trim(), ''];
  c.sources.forEach((s, i) => lines.push(`  [${i + 1}] ${cite(s)}  score ${s.score.toFixed(3)}`));
  const scores = Object.entries(c.scores)
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(', ');
  const t = c.timings;
  lines.push(
    `  ${scores ? `${scores} · ` : ''}retrieve ${ms(t.retrieveMs)} · generate ${ms(t.generateMs)} · ` +
      `total ${ms(t.totalMs)} · attempts ${c.attempts}`,
  );
  return lines.join('\n');
}

function ms(value: number): string {
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`;
}
