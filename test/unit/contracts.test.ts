import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import {
  answerJobDataLenientSchema,
  answerJobDataSchema,
  type AnswerResult,
  answerResultSchema,
  formatIssues,
  ingestJobDataSchema,
  MAX_QUESTION_CHARS,
  ORIGIN_KEY,
  readJobOrigin,
} from '../../src/shared/contracts.ts';

/** The formatted problems of data the strict schema rejects; fails the test when it accepts it. */
function rejection(data: unknown): string {
  const result = answerJobDataSchema.safeParse(data);
  if (result.success) throw new Error(`expected ${JSON.stringify(data)} to be rejected`);
  return formatIssues(result.error);
}

const fullResult: AnswerResult = {
  answer: 'LCEL 是一种声明式地把提示词、模型和解析器组合成链的方式。',
  sources: [
    { id: 'lcel.zh.md', chunk: 0, score: 0.91, text: 'LCEL（LangChain 表达式语言）…' },
    { id: 'faq-lcel', chunk: 0, score: 0.4, text: 'LCEL stands for …' },
  ],
  degraded: false,
  model: 'gpt-4o-mini',
  usage: { inputTokens: 512, outputTokens: 48 },
  timings: { queueMs: 4, retrieveMs: 35.5, generateMs: 820, totalMs: 861 },
  attempts: 2,
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  scores: { contains: 1, sourceHit: 1 },
};

describe('answer job data', () => {
  it('accepts a bare question and keeps it as is', () => {
    expect(answerJobDataSchema.parse({ question: ' What is LCEL? ' })).toEqual({
      question: ' What is LCEL? ',
    });
  });

  it('accepts every optional field', () => {
    const data = {
      question: '什么是 LCEL？',
      namespace: 'docs',
      topK: 7,
      metadata: { lang: 'zh', run: 'r-1' },
      expected: ['LCEL', 'LangChain'],
      expectedSources: ['lcel.zh.md'],
    };
    expect(answerJobDataSchema.parse(data)).toEqual(data);
    expect(answerJobDataSchema.parse({ question: 'q', expected: 'one' }).expected).toBe('one');
  });

  it('accepts a question of exactly the maximum length', () => {
    const question = 'x'.repeat(MAX_QUESTION_CHARS);
    expect(answerJobDataSchema.safeParse({ question }).success).toBe(true);
  });

  it.each([
    ['a missing question', {}, 'question: question is required'],
    ['an empty question', { question: '' }, 'question: question must not be empty'],
    ['a whitespace question', { question: ' \n\t ' }, 'question: question must not be empty'],
    ['a non-string question', { question: 42 }, 'question: question must be a string'],
    [
      'a question of 8001 characters',
      { question: 'x'.repeat(MAX_QUESTION_CHARS + 1) },
      'question: question must be at most 8000 characters',
    ],
  ])('rejects %s with a clear message', (_label, data, message) => {
    expect(rejection(data)).toBe(message);
  });

  it.each([0, 51, 1.5])('rejects topK %s', (topK) => {
    expect(rejection({ question: 'q', topK })).toMatch(/^topK: /);
  });

  it('accepts topK at its bounds', () => {
    expect(answerJobDataSchema.safeParse({ question: 'q', topK: 1 }).success).toBe(true);
    expect(answerJobDataSchema.safeParse({ question: 'q', topK: 50 }).success).toBe(true);
  });

  it('requires metadata values to be strings', () => {
    expect(rejection({ question: 'q', metadata: { lang: 'en', retries: 3 } })).toMatch(
      /^metadata\.retries: /,
    );
  });

  it('rejects an empty namespace and non-string expected sources', () => {
    expect(rejection({ question: 'q', namespace: '' })).toMatch(/^namespace: /);
    expect(rejection({ question: 'q', expectedSources: ['a', 2] })).toMatch(
      /^expectedSources\.1: /,
    );
  });

  it('rejects unknown fields in the strict schema, naming them', () => {
    const message = rejection({ question: 'q', priority: 1, traceparent: 'x' });
    expect(message).toContain('priority');
    expect(message).toContain('traceparent');
  });

  it('ignores unknown fields in the lenient schema, and drops them', () => {
    const parsed = answerJobDataLenientSchema.parse({
      question: 'q',
      topK: 3,
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    });
    expect(parsed).toEqual({ question: 'q', topK: 3 });
  });

  it('applies the same field rules in the lenient schema', () => {
    expect(answerJobDataLenientSchema.safeParse({ question: '  ', extra: 1 }).success).toBe(false);
    expect(answerJobDataLenientSchema.safeParse({ question: 'q', topK: 0 }).success).toBe(false);
  });
});

describe('formatIssues', () => {
  it('joins one `path: message` per issue with semicolons', () => {
    const result = answerJobDataSchema.safeParse({ question: '', topK: 51, metadata: { a: 1 } });
    expect(result.success).toBe(false);
    if (result.success) return;
    const parts = formatIssues(result.error).split('; ');
    expect(parts).toHaveLength(3);
    expect(parts[0]).toBe('question: question must not be empty');
    expect(parts[1]).toMatch(/^topK: .*50/);
    expect(parts[2]).toMatch(/^metadata\.a: /);
  });

  it('prints a root-level issue without a path', () => {
    const result = z.string().safeParse(1);
    expect(result.success).toBe(false);
    if (result.success) return;
    expect(formatIssues(result.error)).not.toMatch(/^: /);
    expect(formatIssues(result.error)).toBe(result.error.issues[0]?.message);
  });
});

describe('answer result', () => {
  it('accepts a full result', () => {
    expect(answerResultSchema.parse(fullResult)).toEqual(fullResult);
  });

  it('accepts a degraded result without sources or scores', () => {
    const { scores: _, ...rest } = fullResult;
    const degraded = { ...rest, sources: [], degraded: true, traceId: '' };
    expect(answerResultSchema.safeParse(degraded).success).toBe(true);
  });

  it.each([
    ['zero attempts', { attempts: 0 }],
    ['a negative chunk', { sources: [{ id: 'a', chunk: -1, score: 1, text: 't' }] }],
    ['negative token usage', { usage: { inputTokens: -1, outputTokens: 0 } }],
    ['a missing timing', { timings: { queueMs: 1, retrieveMs: 1, generateMs: 1 } }],
    ['a non-boolean degraded', { degraded: 'no' }],
  ])('rejects %s', (_label, patch) => {
    expect(answerResultSchema.safeParse({ ...fullResult, ...patch }).success).toBe(false);
  });
});

describe('ingest job data', () => {
  it('accepts a batch (with page and section) and a deletion, and rejects an empty one', () => {
    const batch = {
      chunks: [
        { docId: 'lcel.zh.md', chunk: 0, text: 'LCEL…', metadata: { lang: 'zh' } },
        { docId: 'manual.pdf', chunk: 0, text: 'Install…', page: 2, section: 'Install' },
      ],
      documents: { 'lcel.zh.md': 1, 'manual.pdf': 1 },
    };
    expect(ingestJobDataSchema.parse(batch)).toEqual(batch);
    const deletion = { chunks: [], documents: { 'gone.pdf': 0 } };
    expect(ingestJobDataSchema.parse(deletion)).toEqual(deletion);
    expect(ingestJobDataSchema.safeParse({ chunks: [], documents: {} }).success).toBe(false);
    expect(
      ingestJobDataSchema.safeParse({ ...batch, chunks: [{ ...batch.chunks[1], page: 0 }] })
        .success,
    ).toBe(false);
  });
});

describe('readJobOrigin', () => {
  it("reads the API's origin, and none from a job without one or with a malformed one", () => {
    expect(readJobOrigin({ question: 'q', [ORIGIN_KEY]: { owner: 'key:abc' } })).toEqual({
      owner: 'key:abc',
    });
    expect(readJobOrigin({ question: 'q' })).toBeUndefined();
    expect(readJobOrigin({ question: 'q', [ORIGIN_KEY]: { owner: '' } })).toBeUndefined();
    expect(readJobOrigin('not an object')).toBeUndefined();
  });
});
