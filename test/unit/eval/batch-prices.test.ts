import { describe, expect, it } from 'vitest';

import { formatBatches } from '../../../src/cli/format-batches.ts';
import type { CaseResult } from '../../../src/producer/eval/case-result.ts';
import type { RunManifest } from '../../../src/producer/eval/run-store.ts';
import { summarize } from '../../../src/producer/eval/summarize.ts';
import { DEFAULT_PRICES, estimateCost, priceTableSchema } from '../../../src/shared/price-table.ts';

const usage = { inputTokens: 1_000_000, outputTokens: 1_000_000 };

describe('batch prices', () => {
  it('prices a batch call with the batch column, an online one with the list price', () => {
    expect(estimateCost(DEFAULT_PRICES, 'gpt-4o-mini', usage)).toBeCloseTo(0.75);
    expect(estimateCost(DEFAULT_PRICES, 'gpt-4o-mini', usage, 'batch')).toBeCloseTo(0.375);
  });

  it('takes the batch column from ASKQ_EVAL_PRICES, else half the online price', () => {
    const table = priceTableSchema.parse(
      JSON.stringify({
        custom: { input: 2, output: 4, batch: { input: 0.5, output: 1 } },
        plain: { input: 2, output: 4 },
      }),
    );
    expect(estimateCost(table, 'custom', usage, 'batch')).toBeCloseTo(1.5);
    expect(estimateCost(table, 'plain', usage, 'batch')).toBeCloseTo(3);
    expect(
      priceTableSchema.safeParse('{"m":{"input":1,"output":1,"batch":{"input":-1}}}').success,
    ).toBe(false);
  });

  it('summarizes the cost at batch prices and what the run would have cost online', async () => {
    const base = {
      where: 'line 1',
      question: 'q',
      status: 'passed' as const,
      answer: 'a',
      scores: {},
      failedAssertions: [],
      sources: [],
      degraded: false,
      model: 'gpt-4o-mini',
      attempts: 1,
      timings: { queueMs: 0, retrieveMs: 0, generateMs: 0, totalMs: 1 },
      usage,
      traceId: '',
      jobId: 'j',
      finishedAt: 1,
    };
    const results: CaseResult[] = [
      { ...base, id: 'a', batchId: 'batch_1' },
      { ...base, id: 'b' },
    ];
    const manifest = {
      runId: 'r',
      file: 'f',
      createdAt: '',
      prefix: 'p',
      settings: { withWorker: false, strict: false, priority: 1 },
      enqueued: { valid: 2, invalid: 0, complete: true },
      invalidRows: [],
    } satisfies RunManifest;
    const summary = await summarize(manifest, results, {});
    expect(summary.costUsd).toBeCloseTo(0.375 + 0.75);
    expect(summary.batch).toEqual({ answered: 1, onlineCostUsd: 1.5 });
    expect((await summarize(manifest, [results[1]!], {})).batch).toBeUndefined();
  });
});

describe('formatBatches', () => {
  it('shows each batch with its status, counts and time since submission', () => {
    const now = 10_000_000;
    const text = formatBatches(
      [
        {
          chunk: 0,
          requests: 3,
          batchId: 'batch_a',
          status: 'in_progress',
          submittedAt: now - 125_000,
          counts: { total: 3, completed: 1, failed: 0 },
          updatedAt: now,
        },
        { chunk: 1, requests: 2, status: 'sealed', updatedAt: now },
      ],
      now,
    );
    expect(text.split('\n')).toEqual([
      'batch 0 batch_a in_progress · 1/3 done, 0 failed · submitted 2m 5s ago',
      'batch 1 (not submitted) sealed · 2 requests',
    ]);
  });
});
