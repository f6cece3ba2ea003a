import { afterEach, describe, expect, it } from 'vitest';

import { listDeadLetters, retryDeadLetters } from '../../src/producer/dead-letters.ts';
import { answerResultSchema } from '../../src/shared/contracts.ts';
import {
  BreakerOpenError,
  PermanentError,
  RateLimitedError,
  TransientError,
} from '../../src/shared/errors.ts';
import { readJobState, STATE_KEY } from '../../src/shared/job-state.ts';
import { AskqWorker, workerOptionsFromConfig } from '../../src/worker/askq-worker.ts';
import { type FakePorts, seededFakePorts } from '../support/fake-ports.ts';
import { type Harness, startHarness } from '../support/worker-harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function seeded(env: Record<string, string> = {}): Promise<{ h: Harness; ports: FakePorts }> {
  const ports = await seededFakePorts();
  h = await startHarness({ ports, env });
  return { h, ports };
}

describe('failure semantics', () => {
  it('a 429 pauses the queue for its retry-after without consuming an attempt', async () => {
    const { h, ports } = await seeded();
    ports.failures.chat.push(() => new RateLimitedError('429', { retryAfterMs: 300 }));
    const job = await h.queue.add('answer', { question: 'bullmq?' });
    const result = await h.client.waitForAnswer(job.id!, { timeoutMs: 10_000 });
    expect(result.attempts).toBe(1);
    expect(ports.calls.chat).toBe(2);
    expect(ports.calls.embed).toBe(1); // resumed at the chat stage
    const [first, second] = ports.chatTimes;
    expect(second! - first!).toBeGreaterThanOrEqual(300);
    // Started at least twice (the worker may wake a moment before this process's own pause
    // has passed and be paused again), but only one attempt was counted.
    const fresh = await h.queue.getJob(job.id!);
    expect(fresh!.attemptsStarted).toBeGreaterThanOrEqual(2);
  });

  it('a pause one worker sets stops every worker sharing the queue', async () => {
    const { h, ports } = await seeded();
    ports.failures.chat.push(() => new RateLimitedError('429', { retryAfterMs: 1000 }));
    const first = await h.client.ask({ question: 'bullmq?' });
    // A second worker process on the same queue, with its own providers.
    const other = await seededFakePorts();
    const second = await AskqWorker.start({ ...workerOptionsFromConfig(h.config), ports: other });
    try {
      await second.waitUntilReady();
      const more = await h.client.askMany(
        Array.from({ length: 6 }, (_, i) => ({ question: `bullmq ${i}?` })),
      );
      for (const id of [first.id, ...more.ids]) {
        await h.client.waitForAnswer(id, { timeoutMs: 15_000 });
      }
      const limitedAt = ports.chatTimes[0]!;
      const later = [...ports.chatTimes.slice(1), ...other.chatTimes];
      expect(later).toHaveLength(7);
      // Nobody called the model while the queue was paused (a little slack for clocks).
      for (const t of later) expect(t - limitedAt).toBeGreaterThanOrEqual(950);
    } finally {
      await second.close(2000);
    }
  });

  it('an open breaker pauses the queue instead of burning attempts', async () => {
    const { h, ports } = await seeded({ ASKQ_ATTEMPTS: '2' });
    ports.failures.chat.push(
      () => new BreakerOpenError('chat', 200),
      () => new BreakerOpenError('chat', 200),
      () => new BreakerOpenError('chat', 200),
    );
    const { id } = await h.client.ask({ question: 'bullmq?' });
    const result = await h.client.waitForAnswer(id, { timeoutMs: 10_000 });
    // Three pauses, and still the first attempt: an outage costs no attempts.
    expect(result.attempts).toBe(1);
    expect(ports.calls.chat).toBe(4);
  });

  it('bounds re-queues by ASKQ_MAX_STARTED_ATTEMPTS', async () => {
    const { h, ports } = await seeded({ ASKQ_ATTEMPTS: '2', ASKQ_MAX_STARTED_ATTEMPTS: '3' });
    for (let i = 0; i < 10; i += 1)
      ports.failures.chat.push(() => new BreakerOpenError('chat', 20));
    const { id } = await h.client.ask({ question: 'bullmq?' });
    await expect(h.client.waitForAnswer(id, { timeoutMs: 10_000 })).rejects.toThrow();
    expect(ports.calls.chat).toBe(3);
  });

  it('fails a job that runs past its deadline, with the reason', async () => {
    const { h, ports } = await seeded({
      ASKQ_JOB_DEADLINE_MS: '150',
      ASKQ_BACKOFF_MS: '100',
      ASKQ_BACKOFF_MAX_MS: '100',
    });
    for (let i = 0; i < 20; i += 1) ports.failures.chat.push(() => new TransientError('503'));
    const { id } = await h.client.ask({ question: 'bullmq?' });
    await expect(h.client.waitForAnswer(id, { timeoutMs: 10_000 })).rejects.toThrow(
      /deadline of 150 ms passed after \d+ attempts: 503/,
    );
    const job = await h.queue.getJob(id);
    expect(readJobState(job!.data).lastErrorClass).toBe('deadline');
    expect(ports.calls.chat).toBeLessThan(5);
  });

  it('degrades to an answer without context when retrieval is down after its retries', async () => {
    const { h, ports } = await seeded({ ASKQ_RETRIEVAL_FALLBACK: 'degrade', ASKQ_ATTEMPTS: '2' });
    ports.failures.embed.push(
      () => new TransientError('down'),
      () => new TransientError('down'),
    );
    const { id } = await h.client.ask({ question: 'bullmq?' });
    const result = await h.client.waitForAnswer(id, { timeoutMs: 10_000 });
    expect(result).toMatchObject({
      degraded: true,
      sources: [],
      attempts: 2,
      answer: 'no context',
    });
  });

  it('degrades at once while the retrieval breaker is open, and never for permanent errors', async () => {
    const { h, ports } = await seeded({ ASKQ_RETRIEVAL_FALLBACK: 'degrade' });
    ports.failures.query.push(() => new BreakerOpenError('vectorStore', 1000));
    const first = await h.client.ask({ question: 'bullmq?' });
    expect(await h.client.waitForAnswer(first.id, { timeoutMs: 10_000 })).toMatchObject({
      degraded: true,
      attempts: 1,
    });
    ports.failures.query.push(() => new PermanentError('401 from the store'));
    const second = await h.client.ask({ question: 'bullmq?' });
    await expect(h.client.waitForAnswer(second.id, { timeoutMs: 10_000 })).rejects.toThrow(/401/);
  });

  it('keeps dead letters inspectable and retries them with a fresh budget', async () => {
    const { h, ports } = await seeded({ ASKQ_ATTEMPTS: '2' });
    ports.failures.chat.push(
      () => new PermanentError('400 bad request'),
      () => new TransientError('503'),
      () => new TransientError('503'),
    );
    const a = await h.client.ask({ question: 'first' });
    await expect(h.client.waitForAnswer(a.id, { timeoutMs: 10_000 })).rejects.toThrow(/400/);
    const b = await h.client.ask({ question: 'second' });
    await expect(h.client.waitForAnswer(b.id, { timeoutMs: 10_000 })).rejects.toThrow(/gave up/);

    const letters = await listDeadLetters(h.queue);
    expect(letters.map((l) => [l.id, l.errorClass, l.attempts])).toEqual([
      [b.id, 'transient', 2],
      [a.id, 'permanent', 1],
    ]);
    expect(letters[1]).toMatchObject({ question: 'first', reason: '400 bad request' });

    const outcome = await retryDeadLetters(h.queue, [a.id, 'nope']);
    expect(outcome).toEqual({ retried: [a.id], skipped: [{ id: 'nope', reason: 'no such job' }] });
    expect((await h.client.waitForAnswer(a.id, { timeoutMs: 10_000 })).attempts).toBe(1);
    const all = await retryDeadLetters(h.queue, 'all');
    expect(all.retried).toEqual([b.id]);
    expect((await h.client.waitForAnswer(b.id, { timeoutMs: 10_000 })).attempts).toBe(1);
    expect(await listDeadLetters(h.queue)).toEqual([]);
  });
});

describe("what a finished job keeps of the worker's state", () => {
  /** The job's data as Redis holds it, not as a Job instance parsed it. */
  async function storedData(h: Harness, id: string): Promise<Record<string, unknown>> {
    const raw = await h.redis.hget(`${h.config.ASKQ_PREFIX}:questions:${id}`, 'data');
    return JSON.parse(raw!) as Record<string, unknown>;
  }

  it('a job answered on a retry keeps its counters, not the chunks and the error it retried with', async () => {
    const { h, ports } = await seeded({ ASKQ_BACKOFF_MS: '20', ASKQ_BACKOFF_MAX_MS: '20' });
    ports.failures.chat.push(() => new TransientError('503 '.repeat(200)));
    const { id } = await h.client.ask({ question: 'bullmq?' });
    const result = await h.client.waitForAnswer(id, { timeoutMs: 10_000 });
    expect(answerResultSchema.parse(result)).toEqual(result);
    expect(result.attempts).toBe(2);
    expect(ports.calls.embed).toBe(1); // the second attempt did resume from the checkpoint
    const data = await storedData(h, id);
    expect(data).toEqual({ question: 'bullmq?', [STATE_KEY]: expect.any(Object) });
    const state = data[STATE_KEY] as Record<string, unknown>;
    expect(state).toMatchObject({ attempt: 1 });
    expect(state).not.toHaveProperty('retrieval');
    expect(state).not.toHaveProperty('generation');
    expect(state).not.toHaveProperty('lastError');
  });

  it('a job answered at once carries no state at all', async () => {
    const { h } = await seeded();
    const { id } = await h.client.ask({ question: 'bullmq?' });
    await h.client.waitForAnswer(id, { timeoutMs: 10_000 });
    expect(await storedData(h, id)).toEqual({ question: 'bullmq?' });
  });

  it('a job that failed for good after retrieval keeps its error class, not the chunks', async () => {
    const { h, ports } = await seeded({ ASKQ_BACKOFF_MS: '20', ASKQ_BACKOFF_MAX_MS: '20' });
    ports.failures.chat.push(
      () => new TransientError('503'),
      () => new PermanentError('400 bad request'),
    );
    const { id } = await h.client.ask({ question: 'bullmq?' });
    await expect(h.client.waitForAnswer(id, { timeoutMs: 10_000 })).rejects.toThrow(/400/);
    const state = (await storedData(h, id))[STATE_KEY] as Record<string, unknown>;
    expect(state).toMatchObject({ attempt: 2, lastErrorClass: 'permanent' });
    expect(state).not.toHaveProperty('retrieval');
  });
});
