import { describe, expect, it } from 'vitest';

import { ValidationError } from '../../../../src/shared/errors.ts';
import type { ContextChunk } from '../../../../src/shared/ports.ts';
import {
  ExtractiveChat,
  NO_ANSWER,
} from '../../../../src/worker/providers/local/extractive-chat.ts';
import { CORPUS, corpusText } from './corpus.ts';

/** The whole corpus as retrieved context, best first. */
const everything: ContextChunk[] = CORPUS.map((doc, i) => ({
  docId: doc.id,
  chunk: 0,
  text: doc.text,
  score: 0.6 - i * 0.05,
}));

function chunk(id: Parameters<typeof corpusText>[0], score = 0.5): ContextChunk {
  return { docId: id, chunk: 0, text: corpusText(id), score };
}

describe('ExtractiveChat', () => {
  const chat = new ExtractiveChat();

  it('quotes the sentence that answers an English question', async () => {
    const out = await chat.answer({
      question: 'What happens when a job throws an UnrecoverableError?',
      context: everything,
    });
    expect(out.text).toBe(
      'A job that throws an UnrecoverableError fails at once and is not retried.',
    );
    expect(out).toMatchObject({ model: 'extractive-v1', finishReason: 'stop' });
  });

  it('quotes the sentence that answers a Chinese question, in Chinese', async () => {
    const out = await chat.answer({
      question: 'BullMQ 使用指数退避时等待时间如何变化？',
      context: everything,
    });
    expect(out.text).toBe('使用指数退避时，每次失败后的等待时间都会翻倍。');

    const similarity = await chat.answer({
      question: '向量数据库如何衡量相似度？',
      context: everything,
    });
    expect(similarity.text).toContain('相似度通常用余弦相似度或点积来衡量。');
    expect(similarity.text).not.toMatch(/[a-z]{4}/);
  });

  it('answers in the language of the question when the corpus says it in both', async () => {
    const en = await chat.answer({ question: 'What is LCEL?', context: everything });
    expect(en.text).toBe(
      'LangChain Expression Language (LCEL) is a declarative way to compose chains from runnables.',
    );
    const zh = await chat.answer({ question: '什么是 LCEL？', context: everything });
    expect(zh.text.startsWith('LCEL（LangChain 表达式语言）是一种声明式地组合链的方法。')).toBe(
      true,
    );
    expect(zh.text).not.toContain('declarative');
  });

  it('keeps document order within a chunk and leaves out unrelated chunks', async () => {
    const out = await chat.answer({
      question: 'How does BullMQ retry failed jobs and their attempts?',
      context: [chunk('circuit-breakers.md', 0.9), chunk('bullmq-retries.md', 0.4)],
    });
    const sentences = out.text.split(/(?<=\.) /);
    expect(sentences.length).toBeGreaterThanOrEqual(2);
    expect(sentences.every((s) => corpusText('bullmq-retries.md').includes(s))).toBe(true);
    const positions = sentences.map((s) => corpusText('bullmq-retries.md').indexOf(s));
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
  });

  it('says plainly when the context holds no answer', async () => {
    const en = await chat.answer({
      question: 'What is the capital of France?',
      context: everything,
    });
    expect(en.text).toBe(NO_ANSWER.en);
    const zh = await chat.answer({ question: '法国的首都是哪里？', context: everything });
    expect(zh.text).toBe(NO_ANSWER.zh);
    const empty = await chat.answer({ question: 'What is LCEL?', context: [] });
    expect(empty.text).toBe(NO_ANSWER.en);
    expect(empty.usage.outputTokens).toBeGreaterThan(0);
  });

  it('respects maxSentences', async () => {
    const question = 'BullMQ job attempts failed retry backoff delay';
    const wide = await new ExtractiveChat({ maxSentences: 3, relativeScore: 0 }).answer({
      question,
      context: [chunk('bullmq-retries.md')],
    });
    expect(wide.text.split(/(?<=\.) /)).toHaveLength(3);
    const one = await new ExtractiveChat({ maxSentences: 1 }).answer({
      question,
      context: [chunk('bullmq-retries.md')],
    });
    expect(one.text.split(/(?<=\.) /)).toHaveLength(1);
    expect(wide.text).toContain(one.text);
  });

  it('skips markdown headings and list markers', async () => {
    const out = await chat.answer({
      question: 'How long is the breaker reset timeout?',
      context: [
        {
          docId: 'notes.md',
          chunk: 3,
          text: '# Breaker reset timeout\n\n- The breaker reset timeout is 30 seconds.\n- Nothing else.',
          score: 0.8,
        },
      ],
    });
    expect(out.text).toBe('The breaker reset timeout is 30 seconds.');
  });

  it('skips a plain-text title line, which would run into the next sentence, but not a line that stands alone', async () => {
    const question = 'What is a stalled job in BullMQ?';
    const titled = await chat.answer({
      question,
      context: [
        {
          docId: 'stalled.txt',
          chunk: 0,
          text: 'Stalled jobs in BullMQ\n\nA stalled job in BullMQ is an active job whose worker stopped renewing its lock.\n\nRedis 持久化与 noeviction 策略\n\nBullMQ moves a stalled job back to wait.',
          score: 0.8,
        },
      ],
    });
    expect(titled.text).toBe(
      'A stalled job in BullMQ is an active job whose worker stopped renewing its lock. BullMQ moves a stalled job back to wait.',
    );
    // A short document with no full stop is its own answer.
    const alone = await chat.answer({
      question,
      context: [
        { docId: 'faq', chunk: 0, text: 'A stalled job in BullMQ lost its lock', score: 0.8 },
      ],
    });
    expect(alone.text).toBe('A stalled job in BullMQ lost its lock');
  });

  it('estimates token usage from the question, the context and the answer', async () => {
    const out = await chat.answer({ question: '什么是 LCEL？', context: [chunk('lcel-zh.md')] });
    expect(out.usage.inputTokens).toBeGreaterThan(corpusText('lcel-zh.md').length / 2);
    expect(out.usage.outputTokens).toBeGreaterThan(0);
    expect(out.usage.outputTokens).toBeLessThan(out.usage.inputTokens);
  });

  it('rejects with the reason of an aborted signal', async () => {
    const reason = new Error('deadline');
    await expect(
      chat.answer({ question: 'What is LCEL?', context: everything }, AbortSignal.abort(reason)),
    ).rejects.toBe(reason);
  });

  it('refuses nonsensical options', () => {
    expect(() => new ExtractiveChat({ maxSentences: 0 })).toThrow(ValidationError);
    expect(() => new ExtractiveChat({ minScore: 2 })).toThrow(ValidationError);
  });
});
