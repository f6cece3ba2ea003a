import { describe, expect, it } from 'vitest';

import {
  averagePrecision,
  lexicalAnswerRelevancy,
  lexicalContextPrecision,
  lexicalContextRecall,
  lexicalFaithfulness,
  splitStatements,
} from '../../../src/shared/scoring/lexical-rag.ts';

const backoff =
  'BullMQ retries a failed job with exponential backoff: it waits 1, 2, 4 and 8 seconds between attempts.';
const limiter = 'The limiter option caps how many jobs a worker processes per duration.';

describe('lexical RAG metrics', () => {
  it('splits statements on sentence ends in any script, without citations or fragments', () => {
    expect(splitStatements('It waits 8 s [1]. Yes. 它等待八秒。再试一次！')).toEqual([
      'It waits 8 s.',
      '它等待八秒。',
      '再试一次！',
    ]);
  });

  it('faithfulness is high for an answer taken from the sources and low for an invented one', () => {
    const grounded = lexicalFaithfulness('It waits 1, 2, 4 and 8 seconds between attempts [1].', [
      backoff,
    ]);
    const invented = lexicalFaithfulness('Jobs are stored in PostgreSQL tables by default.', [
      backoff,
    ]);
    expect(grounded.score).toBeGreaterThan(0.8);
    expect(invented.score).toBeLessThan(0.2);
    expect(invented.reason).toMatch(
      /^0 of 1 answer statements mostly found in the sources; least: /,
    );
    expect(lexicalFaithfulness('It waits 8 seconds.', []).score).toBe(0);
  });

  it('counts CJK characters and character pairs, so Chinese needs no word boundaries', () => {
    const zh = '指数退避会在两次尝试之间等待一、二、四和八秒。';
    expect(lexicalFaithfulness('等待一、二、四和八秒。', [zh]).score).toBe(1);
    expect(lexicalFaithfulness('数据存放在表格里。', [zh]).score).toBeLessThan(0.2);
  });

  it('context recall measures the reference statements the sources hold', () => {
    expect(lexicalContextRecall(['1, 2, 4 and 8 seconds'], [backoff]).score).toBe(1);
    expect(lexicalContextRecall(['1, 2, 4 and 8 seconds'], [limiter]).score).toBe(0);
  });

  it('answer relevancy uses the question words and zeroes a declined answer', () => {
    const q = 'How long does BullMQ wait between retries?';
    // Every content word but "long"; "waits" counts as "wait".
    expect(
      lexicalAnswerRelevancy(q, 'BullMQ waits 1, 2, 4 and 8 seconds between retries.'),
    ).toEqual({
      score: 0.8,
      reason: "the answer uses 4 of the question's 5 content words; not: long",
    });
    expect(lexicalAnswerRelevancy(q, 'The limiter caps jobs.').score).toBe(0);
    expect(lexicalAnswerRelevancy(q, "I don't know.")).toEqual({
      score: 0,
      reason: 'the answer declines to answer',
    });
  });

  it('context precision is the average precision of relevant sources by rank', () => {
    const ranked = [
      { id: 'limiter.md', text: limiter },
      { id: 'backoff.md', text: backoff },
    ];
    expect(lexicalContextPrecision(ranked, ['waits 1, 2, 4 and 8 seconds']).score).toBe(0.5);
    expect(
      lexicalContextPrecision([...ranked].reverse(), ['waits 1, 2, 4 and 8 seconds']).score,
    ).toBe(1);
    expect(lexicalContextPrecision(ranked, [], ['limiter.md'])).toEqual({
      score: 1,
      reason: 'relevant at rank 1 of 2 (by expectedSources)',
    });
  });

  it('average precision follows its definition', () => {
    expect(averagePrecision([true, false, true])).toBeCloseTo((1 + 2 / 3) / 2, 10);
    expect(averagePrecision([false, false])).toBe(0);
  });
});
