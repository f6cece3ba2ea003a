import { describe, expect, it } from 'vitest';

import type { ChatPort, EmbeddingsPort } from '../../../src/shared/ports.ts';
import { score } from '../../../src/worker/pipeline/score.ts';

const embeddings: EmbeddingsPort = {
  provider: 'fake',
  model: 'fake',
  embedQuery: async () => [1, 0],
  // The answer is [1, 0]; the references are at 0° and 90° from it.
  embedDocuments: async (texts) => texts.map((t) => (t.startsWith('no') ? [0, 1] : [1, 0])),
};

function chat(reply: string | Error): ChatPort & { calls: number } {
  const port = {
    provider: 'fake',
    model: 'fake',
    calls: 0,
    answer: async () => {
      port.calls += 1;
      if (reply instanceof Error) throw reply;
      return { text: reply, model: 'fake', usage: { inputTokens: 1, outputTokens: 1 } };
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
    expect(
      await score({ question: 'q', answer: 'a', sources }, { embeddings, chat: chat('') }),
    ).toBe(undefined);
  });

  it('scores every assertion kind and calls the chat port only for judge', async () => {
    const judge = chat('SCORE: 8');
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
      { embeddings, chat: judge },
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
    expect(judge.calls).toBe(1);
  });

  it('leaves out the score of a failing scorer instead of failing the job', async () => {
    const out = await score(
      {
        question: 'q',
        answer: 'a',
        sources,
        assert: [{ type: 'judge', rubric: 'r' }],
        expected: 'a',
      },
      { embeddings, chat: chat(new Error('chat down')) },
    );
    expect(out?.scores).toEqual({});
    expect(out?.errors.judge).toMatch(/chat down/);
  });
});
