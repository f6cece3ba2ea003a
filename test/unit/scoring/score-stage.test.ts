import { describe, expect, it } from 'vitest';

import type { EmbeddingsPort, GradeRequest, GraderPort } from '../../../src/shared/ports.ts';
import {
  GraderMissingError,
  GraderReplyError,
  NO_GRADER_REASON,
} from '../../../src/shared/scoring/grader-errors.ts';
import { graderProblem, score } from '../../../src/worker/pipeline/score.ts';

const embeddings: EmbeddingsPort = {
  provider: 'fake',
  model: 'fake',
  embedQuery: async () => [1, 0],
  // The answer is [1, 0]; the references are at 0° and 90° from it.
  embedDocuments: async (texts) => texts.map((t) => (t.startsWith('no') ? [0, 1] : [1, 0])),
};

/** A grader that replies per schema name, recording what it was asked. */
function grader(replies: Record<string, unknown | Error>): GraderPort & { asked: string[] } {
  const port = {
    provider: 'fake',
    model: 'grader-1',
    asked: [] as string[],
    grade: async <T>(request: GradeRequest<T>) => {
      port.asked.push(request.name);
      const reply = replies[request.name];
      if (reply instanceof Error) throw reply;
      return {
        value: request.schema.parse(reply),
        model: 'grader-1',
        usage: { inputTokens: 10, outputTokens: 2 },
      };
    },
  };
  return port;
}

const sources = [
  { id: 'a.md', chunk: 0, score: 0.9, text: 'A' },
  { id: 'b.md', chunk: 0, score: 0.8, text: 'B' },
];

describe('score stage', () => {
  it('returns undefined when the job has nothing to score against', async () => {
    expect(await score({ question: 'q', answer: 'a', sources }, { embeddings })).toBe(undefined);
  });

  it('scores every string and retrieval kind without a model, and judge through the grader', async () => {
    const g = grader({ judge: { score: 8, reason: 'states the wait' } });
    const out = await score(
      {
        question: 'q',
        answer: 'it waits 8 seconds',
        sources,
        expected: 'waits 8 seconds',
        expectedSources: ['b.md'],
        assert: [
          { type: 'contains' },
          { type: 'exact' },
          { type: 'regex', value: '\\d seconds' },
          { type: 'f1' },
          { type: 'similarity', value: ['yes', 'no'] },
          { type: 'hit@k', value: 1 },
          { type: 'mrr' },
          { type: 'judge', rubric: 'states the wait' },
        ],
      },
      { embeddings, grader: g },
    );
    expect(out?.scores).toEqual({
      contains: 1,
      exact: 0,
      regex: 1,
      f1: 0.8571,
      similarity: 1,
      'hit@k': 0,
      mrr: 0.5,
      judge: 0.8,
    });
    expect(out?.details).toEqual({ judge: { method: 'llm', reason: 'states the wait' } });
    expect(out?.graderUsage).toEqual({ inputTokens: 10, outputTokens: 2 });
    expect(g.asked).toEqual(['judge']);
  });

  it('grades the RAG metrics with the grader, after the published definitions', async () => {
    const g = grader({
      faithfulness: {
        statements: [
          { statement: 'It waits 8 s.', supported: true, reason: 'in [1]' },
          { statement: 'It is blue.', supported: false, reason: 'not in any passage' },
        ],
      },
      context_recall: {
        statements: [{ statement: 'waits 8 seconds', supported: true, reason: 'in [1]' }],
      },
      context_precision: {
        verdicts: [
          { passage: 1, useful: false, reason: 'off topic' },
          { passage: 2, useful: true, reason: 'has the wait' },
        ],
      },
      answer_relevancy: { questions: ['yes?', 'no?'], noncommittal: false, reason: 'ok' },
    });
    const out = await score(
      {
        question: 'q',
        answer: 'it waits 8 seconds. it is blue.',
        sources,
        expected: 'waits 8 seconds',
        assert: [
          { type: 'faithfulness' },
          { type: 'context-recall' },
          { type: 'context-precision' },
          { type: 'answer-relevancy' },
        ],
      },
      { embeddings, grader: g },
    );
    expect(out?.scores).toEqual({
      faithfulness: 0.5,
      'context-recall': 1,
      // Useful only at rank 2: precision@2 = 1/2.
      'context-precision': 0.5,
      // The question embeds as [1, 0]; "yes?" at 0°, "no?" at 90°.
      'answer-relevancy': 0.5,
    });
    expect(out?.details.faithfulness).toEqual({
      method: 'llm',
      reason: '1 of 2 answer statements supported; not: "It is blue." (not in any passage)',
    });
    expect(out?.graderUsage).toEqual({ inputTokens: 40, outputTokens: 8 });
  });

  it('is lexical without a grader, or when the assertion asks for it', async () => {
    const g = grader({});
    const out = await score(
      {
        question: 'How long does it wait?',
        answer: 'It waits 8 seconds.',
        sources: [{ id: 'a.md', chunk: 0, score: 1, text: 'The worker waits 8 seconds.' }],
        expected: 'waits 8 seconds',
        assert: [{ type: 'faithfulness', method: 'lexical' }, { type: 'context-recall' }],
      },
      { embeddings },
    );
    expect(out?.details.faithfulness?.method).toBe('lexical');
    expect(out?.details['context-recall']?.method).toBe('lexical');
    expect(out?.scores.faithfulness).toBeGreaterThan(0.5);
    expect(g.asked).toEqual([]);
  });

  it('throws instead of scoring when a grader call fails or its reply does not parse', async () => {
    const assert = [{ type: 'faithfulness' as const }, { type: 'contains' as const }];
    const input = { question: 'q', answer: 'a b', sources, expected: 'a', assert };
    await expect(
      score(input, { embeddings, grader: grader({ faithfulness: new Error('grader down') }) }),
    ).rejects.toThrow('grader down');
    await expect(
      score(input, {
        embeddings,
        grader: grader({ faithfulness: new GraderReplyError('does not match its schema') }),
      }),
    ).rejects.toBeInstanceOf(GraderReplyError);
  });

  it('needs a grader for judge and method llm, and says so before anything is paid for', async () => {
    expect(graderProblem({ assert: [{ type: 'judge', rubric: 'r' }] }, false)).toBe(
      NO_GRADER_REASON,
    );
    expect(graderProblem({ assert: [{ type: 'judge', rubric: 'r' }] }, true)).toBeUndefined();
    expect(graderProblem({ assert: [{ type: 'faithfulness' }] }, false)).toBeUndefined();
    expect(graderProblem({ assert: [{ type: 'faithfulness', method: 'llm' }] }, false)).toMatch(
      /faithfulness with method "llm" needs a grader model/,
    );
    await expect(
      score(
        { question: 'q', answer: 'a', sources, assert: [{ type: 'judge', rubric: 'r' }] },
        { embeddings },
      ),
    ).rejects.toBeInstanceOf(GraderMissingError);
  });
});
