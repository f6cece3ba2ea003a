import { describe, expect, it } from 'vitest';

import { completedResult, erroredResult } from '../../../src/producer/eval/case-result.ts';
import { summarize } from '../../../src/producer/eval/summarize.ts';
import { answerResult, runManifest } from './fixtures.ts';

const evalCase = (id: string) => ({ id, where: `line ${id}`, question: `question ${id}` });

const manifest = runManifest(3);
const answer = answerResult;

describe('degraded cases in an evaluation', () => {
  it("reads why an opted-out case would have degraded from the worker's reason", () => {
    const reason =
      'would have answered degraded (chat_unavailable): gave up after 10 attempts: chat failed (HTTP 500)';
    expect(erroredResult(evalCase('1'), 'j1', reason)).toMatchObject({
      status: 'error',
      error: reason,
      degradedReason: 'chat_unavailable',
    });
    expect(
      erroredResult(evalCase('2'), 'j2', 'chat failed permanently (HTTP 401)'),
    ).not.toHaveProperty('degradedReason');
  });

  it('counts degraded answers and would-be-degraded errors by reason in the summary', async () => {
    const results = [
      completedResult(evalCase('1'), 'j1', answer()),
      completedResult(
        evalCase('2'),
        'j2',
        answer({ degraded: true, degradedReason: 'chat_deadline' }),
      ),
      erroredResult(evalCase('3'), 'j3', 'would have answered degraded (chat_unavailable): 503'),
      erroredResult(evalCase('4'), 'j4', 'would have answered degraded (chat_unavailable): 503'),
    ];
    const summary = await summarize(manifest, results);
    expect(summary.degraded).toBe(1);
    expect(summary.errored).toBe(2);
    expect(summary.degradedReasons).toEqual({
      chat_deadline: { answered: 1, errors: 0 },
      chat_unavailable: { answered: 0, errors: 2 },
    });
    // The worker's reason is an error reason like any other.
    expect(summary.errorReasons).toEqual({
      'would have answered degraded (chat_unavailable): 503': 2,
    });
  });
});
