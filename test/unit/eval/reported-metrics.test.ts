import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { formatSummary } from '../../../src/cli/run-eval.ts';
import { completedResult } from '../../../src/producer/eval/case-result.ts';
import type { EvalCase } from '../../../src/producer/eval/read-cases.ts';
import { writeReport } from '../../../src/producer/eval/render-report.ts';
import { isReportedOnly, summarize } from '../../../src/producer/eval/summarize.ts';
import { answerResult, runManifest } from './fixtures.ts';

const manifest = runManifest(2);
const answer = (scores: Record<string, number>) => answerResult({ scores });

/** A case expecting an answer and a source: scored by contains, hit@k and mrr (ungated). */
const withSources = (id: string): EvalCase => ({
  id,
  where: `line ${id}`,
  question: `question ${id}`,
  expected: 'retries',
  expectedSources: ['bullmq-retries.md'],
});

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'askq-reported-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('a metric nothing gates (mrr by default)', () => {
  // The retrieval found nothing: contains and hit@k fail, mrr is 0 and passes its threshold 0.
  const missed = () =>
    [withSources('1'), withSources('2')].map((c, i) =>
      completedResult(c, `j${i}`, answer({ contains: 0, 'hit@k': 0, mrr: 0 })),
    );

  it('is shown by its mean in the terminal summary, not as a 100 % pass rate', async () => {
    const summary = await summarize(manifest, missed());
    expect(summary.metrics.mrr).toMatchObject({ mean: 0, passRate: 1 });
    const text = formatSummary(summary, dir);
    expect(text).toContain('hit@k 0% (mean 0.00)');
    expect(text).toContain('mrr mean 0.00');
    expect(text).not.toMatch(/mrr 100%/);
  });

  it('gets no pass-rate bar in the report', async () => {
    const results = missed();
    const summary = await summarize(manifest, results);
    const path = join(dir, 'report.html');
    await writeReport(path, summary, async function* () {
      yield* results;
    });
    const html = await readFile(path, 'utf8');
    expect(html).toContain('mean 0.00 · reported, not gated');
    expect(html).toContain('0% (mean 0.00)'); // contains and hit@k keep theirs
    expect(html).not.toContain('100% (mean 0.00)');
  });

  it('is gated again when a case gives it a threshold and fails it', async () => {
    const gated: EvalCase = {
      ...withSources('3'),
      assert: [{ type: 'hit@k' }, { type: 'mrr', threshold: 0.5 }],
    };
    const results = [
      completedResult(withSources('1'), 'j1', answer({ contains: 1, 'hit@k': 1, mrr: 1 })),
      completedResult(gated, 'j3', answer({ contains: 1, 'hit@k': 1, mrr: 0.25 })),
    ];
    expect(results[1]!.failedAssertions).toEqual(['mrr']);
    const summary = await summarize(manifest, results);
    expect(isReportedOnly('mrr', summary.metrics.mrr!)).toBe(false);
    expect(formatSummary(summary, dir)).toContain('mrr 50% (mean 0.63)');
  });

  it('is told apart by type, repeats included, and only for types that pass by default', () => {
    expect(isReportedOnly('mrr#2', { passRate: 1 })).toBe(true);
    expect(isReportedOnly('hit@k', { passRate: 1 })).toBe(false);
    expect(isReportedOnly('contains', { passRate: 1 })).toBe(false);
    expect(isReportedOnly('not-a-type', { passRate: 1 })).toBe(false);
  });
});
