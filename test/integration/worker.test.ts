import { type Job, QueueEvents } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';

import { QuestionFailedError, WaitTimeoutError } from '../../src/producer/askq-client.ts';
import { answerResultSchema } from '../../src/shared/contracts.ts';
import { PermanentError, TransientError, ValidationError } from '../../src/shared/errors.ts';
import { startLocalRedis } from '../../src/shared/local-redis.ts';
import { createRedisConnection } from '../../src/shared/redis.ts';
import { redisSettingsFrom } from '../../src/shared/redis-settings.ts';
import { AskqWorker, workerOptionsFromConfig } from '../../src/worker/askq-worker.ts';
import { testConfig } from '../support/config.ts';
import { FakePorts, seededFakePorts } from '../support/fake-ports.ts';
import { type Harness, startHarness } from '../support/worker-harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function seeded(env: Record<string, string> = {}): Promise<{ h: Harness; ports: FakePorts }> {
  const ports = await seededFakePorts({ 'bullmq.md': 'bullmq retries jobs', 'zebra.md': 'zzz' });
  h = await startHarness({ ports, env });
  return { h, ports };
}

/** Resolves when the job fails, with its failed reason. */
async function failure(harness: Harness, job: Job): Promise<string> {
  const events = new QueueEvents('questions', {
    connection: createRedisConnection(redisSettingsFrom(harness.config), 'worker'),
    prefix: harness.config.ASKQ_PREFIX,
  });
  try {
    await events.waitUntilReady();
    await expect(job.waitUntilFinished(events, 10_000)).rejects.toThrow();
    const fresh = await harness.queue.getJob(job.id!);
    return fresh!.failedReason;
  } finally {
    await events.close();
    await events.disconnect();
  }
}

describe('worker end to end (real Redis, in-process ports)', () => {
  it('answers a question from the client with the contract return value', async () => {
    const { h } = await seeded();
    const { id } = await h.client.ask({ question: 'How does bullmq retry jobs?' });
    const result = await h.client.waitForAnswer(id, { timeoutMs: 10_000 });
    expect(answerResultSchema.parse(result)).toEqual(result);
    expect(result.sources[0]?.id).toBe('bullmq.md');
    expect(result.answer).toContain('bullmq retries jobs');
    expect(result.attempts).toBe(1);
    expect(result.degraded).toBe(false);
    expect(result.timings.totalMs).toBeGreaterThanOrEqual(result.timings.generateMs);
    const status = await h.client.getStatus(id);
    expect(status).toMatchObject({ id, state: 'completed', result });
  });

  it('answers a foreign producer that adds { question } with plain BullMQ defaults', async () => {
    const { h } = await seeded();
    const job = await h.queue.add('answer', {
      question: 'bullmq retries?',
      traceparent: 'x',
      extra: 1,
    });
    const result = await h.client.waitForAnswer(job.id!, { timeoutMs: 10_000 });
    expect(result.sources[0]?.id).toBe('bullmq.md');
  });

  it('fails a malformed foreign job at once, with the reason, and never runs the pipeline', async () => {
    const { h, ports } = await seeded();
    const job = await h.queue.add('answer', { question: '   ', topK: 99 }, { attempts: 5 });
    const reason = await failure(h, job);
    expect(reason).toMatch(/invalid job data/);
    expect(reason).toMatch(/question must not be empty/);
    expect(reason).toMatch(/topK/);
    expect((await h.queue.getJob(job.id!))!.attemptsMade).toBe(1);
    expect(ports.calls.embed + ports.calls.chat).toBe(0);
  });

  it('fails a permanent provider error without retrying', async () => {
    const { h, ports } = await seeded();
    ports.failures.chat.push(() => new PermanentError('chat returned 401'));
    const { id } = await h.client.ask({ question: 'bullmq?' });
    await expect(h.client.waitForAnswer(id, { timeoutMs: 10_000 })).rejects.toThrow(/401/);
    expect(ports.calls.chat).toBe(1);
  });

  it('retries a transient chat failure at the chat stage: retrieval is not paid for twice', async () => {
    const { h, ports } = await seeded();
    ports.failures.chat.push(
      () => new TransientError('503'),
      () => new Error('socket hang up'),
    );
    // A foreign job with BullMQ's default single attempt is retried like any other.
    const job = await h.queue.add('answer', { question: 'bullmq retries?' });
    const result = await h.client.waitForAnswer(job.id!, { timeoutMs: 10_000 });
    expect(result.attempts).toBe(3);
    expect(ports.calls.chat).toBe(3);
    expect(ports.calls.embed).toBe(1);
    expect(ports.calls.query).toBe(1);
    expect(result.sources[0]?.id).toBe('bullmq.md');
  });

  it('gives up after ASKQ_ATTEMPTS transient failures, with the last reason', async () => {
    const { h, ports } = await seeded({ ASKQ_ATTEMPTS: '3' });
    for (let i = 0; i < 5; i += 1) ports.failures.embed.push(() => new TransientError(`boom ${i}`));
    const { id } = await h.client.ask({ question: 'bullmq?' });
    const err = await h.client.waitForAnswer(id, { timeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QuestionFailedError);
    expect((err as Error).message).toMatch(/gave up after 3 attempts: .*boom 2/);
    expect(ports.calls.embed).toBe(3);
  });

  it('validates in the client: bad questions throw and enqueue nothing', async () => {
    const { h } = await seeded();
    await expect(h.client.ask({ question: '' })).rejects.toBeInstanceOf(ValidationError);
    await expect(h.client.ask({ question: 'x'.repeat(8001) })).rejects.toThrow(/8000/);
    await expect(h.client.ask({ question: 42 } as never)).rejects.toThrow(/string/);
    await expect(
      h.client.askMany([{ question: 'fine' }, { question: 'ok', topK: 0 }]),
    ).rejects.toThrow(/item 1: topK/);
    expect(await h.queue.count()).toBe(0);
  });

  it('getStatus of an unknown id is undefined; waitForAnswer times out with WaitTimeoutError', async () => {
    const { h } = await seeded();
    expect(await h.client.getStatus('nope')).toBeUndefined();
    const job = await h.queue.add('answer', { question: 'later' }, { delay: 60_000 });
    await expect(h.client.waitForAnswer(job.id!, { timeoutMs: 200 })).rejects.toBeInstanceOf(
      WaitTimeoutError,
    );
    expect((await h.client.getStatus(job.id!))?.state).toBe('delayed');
  });

  it('finishes active jobs on close within the grace period', async () => {
    const ports = new FakePorts();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inChat = new Promise<void>((r) => (entered = r));
    const answer = ports.chat.answer.bind(ports.chat);
    (ports.chat as { answer: typeof answer }).answer = async (input) => {
      entered();
      await gate;
      return answer(input);
    };
    h = await startHarness({ ports });
    const { id } = await h.client.ask({ question: 'slow one' });
    await inChat;
    const closing = h.worker.close(10_000);
    release();
    await closing;
    expect((await h.client.getStatus(id))?.state).toBe('completed');
  });
});

describe('worker start-up checks', () => {
  it('refuses to start when Redis may evict keys', async () => {
    const redis = await startLocalRedis();
    try {
      const admin = createRedisConnection(redis.url, 'worker');
      await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
      await admin.quit();
      await expect(
        AskqWorker.start({
          ...workerOptionsFromConfig(testConfig({ REDIS_URL: redis.url })),
          ports: new FakePorts(),
        }),
      ).rejects.toThrow(/maxmemory-policy is "allkeys-lru".*noeviction/);
    } finally {
      await redis.stop();
    }
  });
});

describe('shutdown past the grace period', () => {
  it('cancels the jobs still active and gives their attempt back for another worker', async () => {
    const stuck = new FakePorts();
    let entered!: () => void;
    const inChat = new Promise<void>((r) => (entered = r));
    let stuckCalls = 0;
    (stuck.chat as { answer: unknown }).answer = () => {
      stuckCalls += 1;
      entered();
      return new Promise(() => {}); // a model that never answers (its call timeout is long)
    };
    h = await startHarness({ ports: stuck, env: { ASKQ_CALL_TIMEOUT_MS: '600000' } });
    const { id } = await h.client.ask({ question: 'bullmq retries?' });
    await inChat;
    await h.worker.close(200);
    const next = await AskqWorker.start({
      ...workerOptionsFromConfig(h.config),
      ports: await seededFakePorts(),
    });
    try {
      const result = await h.client.waitForAnswer(id, { timeoutMs: 10_000 });
      expect(result.attempts).toBe(1);
      expect(stuckCalls).toBe(1);
    } finally {
      await next.close(2000);
    }
  });
});
