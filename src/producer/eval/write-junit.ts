import { once } from 'node:events';
import { createWriteStream } from 'node:fs';

import type { CaseResult } from './case-result.ts';
import type { RunSummary } from './summarize.ts';

/**
 * JUnit XML of a run, so CI systems show evaluation results natively: one `<testsuite>` per
 * run, one `<testcase>` per case and variant (classname `askq.<variant>`, name the case id
 * and repeat), `<failure>` naming the assertions below threshold with their scores,
 * `<error>` with the reason of an errored case. Streamed from the results.
 */
export async function writeJunit(
  path: string,
  summary: RunSummary,
  results: AsyncIterable<CaseResult>,
): Promise<void> {
  const out = createWriteStream(path);
  const write = async (text: string) => {
    if (!out.write(text)) await once(out, 'drain');
  };
  const suite = `askq eval ${summary.runId}`;
  await write(
    `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="askq" tests="${summary.completed}" failures="${summary.failed}" errors="${summary.errored}" time="${summary.wallSeconds}">\n` +
      `<testsuite name="${attr(suite)}" tests="${summary.completed}" failures="${summary.failed}" errors="${summary.errored}" skipped="0" time="${summary.wallSeconds}">\n`,
  );
  for await (const r of results) {
    const name = `${r.caseId ?? r.id}${r.repeat ? ` #${r.repeat}` : ''}`;
    const head = `<testcase classname="askq.${attr(r.variant ?? 'eval')}" name="${attr(name)}" time="${(r.timings.totalMs / 1000).toFixed(3)}"`;
    if (r.status === 'passed') {
      await write(`${head}/>\n`);
      continue;
    }
    const body =
      r.status === 'error'
        ? `<error message="${attr(r.error ?? 'error')}" type="error"/>`
        : `<failure message="${attr(failureMessage(r))}" type="assertion">${text(
            `question: ${r.question}\nanswer: ${r.answer}`,
          )}</failure>`;
    await write(`${head}>${body}</testcase>\n`);
  }
  await write('</testsuite>\n</testsuites>\n');
  out.end();
  await once(out, 'finish');
}

function failureMessage(r: CaseResult): string {
  return r.failedAssertions
    .map((k) => {
      const score = r.scores[k];
      const reason = r.scoreDetails?.[k]?.reason;
      return `${k} ${score === undefined ? 'unscored' : score}${reason ? ` (${reason})` : ''}`;
    })
    .join('; ');
}

/** XML 1.0 text: escaped, with characters XML cannot carry dropped. */
function text(value: string): string {
  return value
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));
}

function attr(value: string): string {
  return text(value).replace(/"/g, '&quot;').replace(/\n/g, '&#10;');
}
