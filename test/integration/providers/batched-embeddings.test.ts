import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { EmbeddingsPort } from '../../../src/shared/ports.ts';
import { SECOND } from '../../../src/shared/time.ts';
import { BatchedEmbeddings } from '../../../src/worker/providers/batched-embeddings.ts';
import { OpenAIEmbeddingsProvider } from '../../../src/worker/providers/openai/openai-embeddings.ts';
import { classifyPolicy } from '../../../src/worker/resilience/classify-policy.ts';
import { wrap } from '../../../src/worker/resilience/policy.ts';
import { timeoutPolicy } from '../../../src/worker/resilience/timeout-policy.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../../support/fake-openai-server.ts';

/** The provider behind the policies the worker puts it behind (here without a breaker). */
function guarded(inner: EmbeddingsPort): EmbeddingsPort {
  const policy = wrap(timeoutPolicy('embeddings', 30 * SECOND), classifyPolicy('embeddings'));
  return {
    provider: inner.provider,
    model: inner.model,
    embedQuery: (text, signal) => policy.execute((s) => inner.embedQuery(text, s), signal),
    embedDocuments: (texts, signal) =>
      policy.execute((s) => inner.embedDocuments(texts, s), signal),
  };
}

describe('BatchedEmbeddings over the real OpenAIEmbeddings client', () => {
  let fake: FakeOpenAI;
  let inner: OpenAIEmbeddingsProvider;
  beforeAll(async () => {
    fake = await startFakeOpenAI();
    inner = new OpenAIEmbeddingsProvider({
      apiKey: 'sk-test',
      baseURL: fake.url,
      model: 'text-embedding-3-small',
    });
  });
  afterAll(async () => {
    await fake.close();
  });

  const texts = Array.from({ length: 32 }, (_, i) => `question number ${i} about queues`);

  it('answers 32 concurrent queries with one HTTP request, each with its own vector', async () => {
    const expected = await inner.embedDocuments(texts);
    const before = fake.calls.embeddings;
    const batched = new BatchedEmbeddings(guarded(inner), { maxWaitMs: 5, maxBatchSize: 64 });
    const vectors = await Promise.all(texts.map((t) => batched.embedQuery(t)));
    expect(fake.calls.embeddings - before).toBe(1);
    expect(batched.requests).toBe(1);
    expect(vectors).toEqual(expected);
  });

  it('splits at maxBatchSize', async () => {
    const before = fake.calls.embeddings;
    const batched = new BatchedEmbeddings(guarded(inner), { maxWaitMs: 5, maxBatchSize: 8 });
    await Promise.all(texts.map((t) => batched.embedQuery(t)));
    expect(fake.calls.embeddings - before).toBe(4);
  });

  it('fails every query of a failed request, and lets the next batch succeed', async () => {
    const batched = new BatchedEmbeddings(guarded(inner), { maxWaitMs: 5, maxBatchSize: 64 });
    fake.failNext('embeddings', { status: 500 });
    const results = await Promise.allSettled(texts.slice(0, 3).map((t) => batched.embedQuery(t)));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(batched.requests).toBe(1);
    await expect(batched.embedQuery('again')).resolves.toHaveLength(64);
  });
});

describe('BatchedEmbeddings when one text is refused', () => {
  it('fails only the refused query: a 400 for the batch is retried text by text', async () => {
    // Any request whose input holds the text 'b' is refused, like a text over the limit.
    const fake = await startFakeOpenAI({
      decide: (route, request) =>
        route === 'embeddings' && JSON.stringify(request.body).includes('"b"')
          ? { status: 400 }
          : undefined,
    });
    try {
      const inner = new OpenAIEmbeddingsProvider({
        apiKey: 'sk-test',
        baseURL: fake.url,
        model: 'text-embedding-3-small',
      });
      const batched = new BatchedEmbeddings(guarded(inner), { maxWaitMs: 5, maxBatchSize: 64 });
      const results = await Promise.allSettled(['a', 'b', 'c'].map((t) => batched.embedQuery(t)));
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(fake.calls.embeddings).toBe(4);
    } finally {
      await fake.close();
    }
  });
});
