import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AskqHttpClient, QuestionFailedError, WaitTimeoutError } from '../../../src/index.ts';
import { answerResultSchema } from '../../../src/shared/contracts.ts';
import {
  PermanentError,
  RateLimitedError,
  TransientError,
  ValidationError,
} from '../../../src/shared/errors.ts';
import { startTestApi, TEST_API_KEY, type TestApi } from '../../support/api-server.ts';
import { FakePorts } from '../../support/fake-ports.ts';
import { type Harness, startHarness } from '../../support/worker-harness.ts';

describe('AskqHttpClient against askq serve over a real socket, with a worker', () => {
  let h: Harness;
  let ports: FakePorts;
  let api: TestApi;
  let client: AskqHttpClient;

  beforeAll(async () => {
    ports = new FakePorts();
    await ports.store.upsert('default', [
      { id: 'a#0', docId: 'bullmq.md', chunk: 0, text: 'bullmq retries jobs', values: [] },
    ]);
    for (const r of ports.records.values()) r.values = await ports.embeddings.embedQuery(r.text);
    h = await startHarness({ ports });
    api = await startTestApi({ ASKQ_PREFIX: h.config.ASKQ_PREFIX, ASKQ_MAX_BATCH: '3' });
    await api.listen();
    client = new AskqHttpClient({ baseUrl: api.url, apiKey: TEST_API_KEY, batchSize: 3 });
  });
  afterAll(async () => {
    await client.close();
    await api.close();
    await h.close();
  });

  it('asks, waits for and reads an answer: the same API and result as AskqClient', async () => {
    const { id } = await client.ask({ question: 'How does bullmq retry jobs?', topK: 2 });
    const result = await client.waitForAnswer(id, { timeoutMs: 10_000 });
    expect(answerResultSchema.parse(result)).toEqual(result);
    expect(result.sources[0]?.id).toBe('bullmq.md');
    const status = await client.getStatus(id);
    expect(status).toMatchObject({ id, state: 'completed', result });
    expect(await h.client.getStatus(id)).toEqual(status);
  });

  it('askMany sends batches of batchSize and returns every id in order', async () => {
    const questions = Array.from({ length: 7 }, (_, i) => ({ question: `bullmq question ${i}` }));
    const { ids } = await client.askMany(questions);
    expect(ids).toHaveLength(7);
    const jobs = await Promise.all(ids.map((id) => h.queue.getJob(id)));
    expect(jobs.map((j) => j?.data.question)).toEqual(questions.map((q) => q.question));
    // Answered before the next test scripts a failure into the shared fake ports.
    const answers = await Promise.all(
      ids.map((id) => client.waitForAnswer(id, { timeoutMs: 10_000 })),
    );
    expect(answers.every((a) => a.sources[0]?.id === 'bullmq.md')).toBe(true);
  });

  it('is idempotent with idempotencyKey', async () => {
    const a = await client.ask({ question: 'once?' }, { idempotencyKey: 'client-retry-1' });
    const b = await client.ask({ question: 'once?' }, { idempotencyKey: 'client-retry-1' });
    expect(b.id).toBe(a.id);
    await client.waitForAnswer(a.id, { timeoutMs: 10_000 });
  });

  it('validates before sending: a ValidationError and no request', async () => {
    const before = await api.jobFootprint();
    await expect(client.ask({ question: '' })).rejects.toThrow(ValidationError);
    await expect(
      client.askMany([{ question: 'fine' }, { question: 'x', topK: 99 }]),
    ).rejects.toThrow(/item 1: topK/);
    expect(await api.jobFootprint()).toEqual(before);
  });

  it('returns undefined for an unknown id and rejects a failed question with QuestionFailedError', async () => {
    expect(await client.getStatus('no-such-job')).toBeUndefined();
    ports.failures.chat.push(() => new PermanentError('model refused the request'));
    const { id } = await client.ask({ question: 'bullmq will fail' });
    const err = await client.waitForAnswer(id, { timeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QuestionFailedError);
    expect((err as Error).message).toMatch(/model refused/);
  });

  it('gives up with WaitTimeoutError when the answer takes longer than timeoutMs', async () => {
    await h.worker.questions.pause();
    try {
      const { id } = await client.ask({ question: 'bullmq, slowly' });
      const t0 = performance.now();
      await expect(client.waitForAnswer(id, { timeoutMs: 400 })).rejects.toThrow(WaitTimeoutError);
      expect(performance.now() - t0).toBeLessThan(3000);
    } finally {
      h.worker.questions.resume();
    }
  });

  it('maps refusals to askq errors: wrong key, unreachable server, rate limit', async () => {
    const wrong = new AskqHttpClient({ baseUrl: api.url, apiKey: 'wrong-key-000000000000000' });
    await expect(wrong.getStatus('1')).rejects.toThrow(PermanentError);
    const nowhere = new AskqHttpClient({ baseUrl: 'http://127.0.0.1:9', apiKey: TEST_API_KEY });
    await expect(nowhere.getStatus('1')).rejects.toThrow(TransientError);

    const limited = await startTestApi({ ASKQ_RATE_LIMIT_MAX: '1' });
    try {
      await limited.listen();
      const c = new AskqHttpClient({ baseUrl: limited.url, apiKey: TEST_API_KEY });
      await c.ask({ question: 'first' });
      const err = await c.ask({ question: 'second' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RateLimitedError);
      expect((err as RateLimitedError).retryAfterMs).toBeGreaterThan(0);
    } finally {
      await limited.close();
    }
  });
});
