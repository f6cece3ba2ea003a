import { afterEach, describe, expect, it } from 'vitest';

import { QuestionFailedError } from '../../src/producer/client-errors.ts';
import {
  BreakerOpenError,
  CancelledError,
  RateLimitedError,
  TransientError,
} from '../../src/shared/errors.ts';
import { createRedisConnection, type Redis } from '../../src/shared/redis.ts';
import { AskqWorker, workerOptionsFromConfig } from '../../src/worker/askq-worker.ts';
import { OpenAIChat } from '../../src/worker/providers/openai/openai-chat.ts';
import { CallLimits, estimateTokens } from '../../src/worker/resilience/call-limits.ts';
import { createDependencyPolicies } from '../../src/worker/resilience/dependency-policies.ts';
import { guardPorts } from '../../src/worker/resilience/guarded-ports.ts';
import type { WorkerEventSink } from '../../src/worker/worker-events.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai-server.ts';
import { seededFakePorts } from '../support/fake-ports.ts';
import { pollUntil } from '../support/poll-until.ts';
import { deletePrefix, testConnection, uniquePrefix } from '../support/redis.ts';
import { release, track } from '../support/resources.ts';
import { type Harness, startHarness } from '../support/worker-harness.ts';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

function redisFor(): { redis: Redis; prefix: string } {
  const redis = testConnection();
  const prefix = uniquePrefix('limits');
  cleanup.push(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
  });
  return { redis, prefix };
}

async function bucketTokens(redis: Redis, prefix: string): Promise<number> {
  return Number(await redis.hget(`${prefix}:limits:tpm`, 'tokens'));
}

/** A worker's dependency policies (breakers shut down after the test). */
function policiesFor(breaker: { volumeThreshold: number; resetTimeoutMs: number }) {
  const policies = createDependencyPolicies({
    callTimeoutMs: 5000,
    errorThresholdPercentage: 50,
    rollingCountTimeoutMs: 10_000,
    ...breaker,
  });
  cleanup.push(async () => {
    for (const p of Object.values(policies)) p.breaker.shutdown();
  });
  return policies;
}

describe('ASKQ_LLM_RPM taken at the model call, across workers', () => {
  it('two workers sharing one limit never exceed it in any of the provider’s windows', async () => {
    // The provider admits 20 chat requests per fixed 2-s window (600/min); askq is told the
    // same 600/min. Two worker instances on one queue, each with its own API key so the fake
    // can tell their requests apart.
    const windowMs = 2000;
    const allowance = 20;
    const arrivals: { at: number; key: string }[] = [];
    const fake: FakeOpenAI = await startFakeOpenAI({
      rateLimit: { requestsPerMinute: 600, windowMs, routes: ['chat'] },
      onTraffic: (e) => {
        if (e.route === 'chat' && e.kind === 'request') {
          arrivals.push({ at: e.at, key: String(e.request.headers.authorization) });
        }
      },
    });
    cleanup.push(() => fake.close());
    const chatFor = (apiKey: string) =>
      new OpenAIChat({ apiKey, baseURL: fake.url, model: 'gpt-4o-mini' });
    const h: Harness = await startHarness({
      ports: { ...(await seededFakePorts()), chat: chatFor('sk-first') },
      env: { ASKQ_LLM_RPM: '600', ASKQ_CONCURRENCY: '20' },
    });
    cleanup.push(() => h.close());
    const second = track(
      await AskqWorker.start({
        ...workerOptionsFromConfig(h.config),
        ports: { ...(await seededFakePorts()), chat: chatFor('sk-second') },
      }),
      'AskqWorker',
    );
    cleanup.push(async () => {
      await second.close(5000);
      release(second);
    });
    await second.waitUntilReady();

    const jobs = 70; // 3.5 windows' allowance
    const { ids } = await h.client.askMany(
      Array.from({ length: jobs }, (_, i) => ({ question: `bullmq ${i}?` })),
    );
    for (const id of ids) await h.client.waitForAnswer(id, { timeoutMs: 30_000 });

    expect(fake.rateLimited).toBe(0);
    expect(arrivals).toHaveLength(jobs);
    const perWindow = new Map<number, number>();
    for (const { at } of arrivals) {
      const w = Math.floor(at / windowMs);
      perWindow.set(w, (perWindow.get(w) ?? 0) + 1);
    }
    expect(Math.max(...perWindow.values())).toBeLessThanOrEqual(allowance);
    // Both workers called the model: the limit held across them, not within one.
    expect(arrivals.filter((a) => a.key === 'Bearer sk-first').length).toBeGreaterThan(0);
    expect(arrivals.filter((a) => a.key === 'Bearer sk-second').length).toBeGreaterThan(0);
  });

  it('a turn further away than a call may wait is not booked: a rate limit with the excess', async () => {
    const { redis, prefix } = redisFor();
    const limits = new CallLimits({ redis, prefix, requestsPerMinute: 60, maxWaitMs: 500 });
    const cost = { promptTokens: 1, maxOutputTokens: 1 };
    expect((await limits.acquire(cost)).waitedMs).toBe(0);
    // The next turn is 1.05 s away (1 s and the spacing's 5 % headroom), past what a call may wait.
    const refused = await limits.acquire(cost).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimitedError);
    const retryAfterMs = (refused as RateLimitedError).retryAfterMs!;
    expect(retryAfterMs).toBeGreaterThan(0);
    expect(retryAfterMs).toBeLessThanOrEqual(550);
    // Nothing was booked: the next refusal names the same turn, not one a second later.
    const again = (await limits.acquire(cost).catch((e: unknown) => e)) as RateLimitedError;
    expect(again.retryAfterMs!).toBeLessThanOrEqual(retryAfterMs);
  });

  it('a call waiting for its turn stops when its job is aborted, and gives its tokens back', async () => {
    const { redis, prefix } = redisFor();
    // One request a minute: the second call's turn is a minute away.
    const limits = new CallLimits({
      redis,
      prefix,
      requestsPerMinute: 1,
      tokensPerMinute: 10_000,
      maxWaitMs: 120_000,
    });
    const cost = { promptTokens: 100, maxOutputTokens: 400 };
    await limits.acquire(cost);
    const before = await bucketTokens(redis, prefix);
    const job = new AbortController();
    const waiting = limits.acquire(cost, job.signal);
    job.abort(new Error('cancelled by the producer'));
    await expect(waiting).rejects.toBeInstanceOf(CancelledError);
    // The aborted call's 500 tokens are back (the bucket only refills in between).
    expect(await bucketTokens(redis, prefix)).toBeGreaterThanOrEqual(before);
  });

  it('a call whose turn cannot be booked (Redis unreachable) stops when its job is aborted', async () => {
    // A worker's connection retries forever: with no Redis to answer, the booking never returns.
    const redis = createRedisConnection('redis://127.0.0.1:1', 'worker');
    redis.on('error', () => {});
    cleanup.push(async () => redis.disconnect());
    const limits = new CallLimits({
      redis,
      prefix: uniquePrefix('limits'),
      requestsPerMinute: 60,
      tokensPerMinute: 10_000,
      maxWaitMs: 10_000,
    });
    const job = new AbortController();
    const booking = limits
      .acquire({ promptTokens: 100, maxOutputTokens: 400 }, job.signal)
      .catch((err: unknown) => err);
    setTimeout(() => job.abort(new Error('cancelled by the producer')), 50);
    const outcome = await Promise.race([
      booking,
      new Promise((resolve) => setTimeout(() => resolve('still booking'), 3_000)),
    ]);
    expect(outcome).toBeInstanceOf(CancelledError);
  });

  it('a question cancelled while its call waits for its turn fails "cancelled" without the call', async () => {
    // One request a minute, and calls may wait two: the second question's call waits.
    const ports = await seededFakePorts();
    const h = await startHarness({
      ports,
      env: { ASKQ_LLM_RPM: '1', ASKQ_CALL_TIMEOUT_MS: '120000' },
    });
    cleanup.push(() => h.close());
    const first = await h.client.ask({ question: 'bullmq first?' });
    await h.client.waitForAnswer(first.id, { timeoutMs: 10_000 });
    // The next free turn, as booked in Redis: the second call's booking moves it a minute on.
    const turnKey = `${h.config.ASKQ_PREFIX}:limits:rpm`;
    const firstTurn = await h.redis.get(turnKey);
    const { id } = await h.client.ask({ question: 'bullmq second?' });
    await pollUntil(new Set(), async () => (await h.redis.get(turnKey)) !== firstTurn, {
      timeoutMs: 10_000,
      timedOut: () => new Error('the second call never booked its turn'),
    });
    expect(await h.client.cancel(id)).toMatchObject({ state: 'active', outcome: 'aborting' });
    await expect(h.client.waitForAnswer(id, { timeoutMs: 10_000 })).rejects.toThrow(
      new QuestionFailedError(id, 'cancelled'),
    );
    expect(ports.calls.chat).toBe(1);
  });
});

describe('ASKQ_LLM_TPM charged before the call', () => {
  it('a call whose estimate exceeds what is left waits (or is refused), and usage corrects the charge', async () => {
    const { redis, prefix } = redisFor();
    // 600 tokens a minute: 10 a second.
    const limits = new CallLimits({ redis, prefix, tokensPerMinute: 600, maxWaitMs: 1000 });
    const first = await limits.acquire({ promptTokens: 100, maxOutputTokens: 500 });
    expect(first.waitedMs).toBe(0);
    // The whole minute is pre-charged: another 100-token call would wait ~10 s, past 1 s.
    const refused = await limits
      .acquire({ promptTokens: 100, maxOutputTokens: 0 })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimitedError);
    expect((refused as RateLimitedError).retryAfterMs!).toBeGreaterThan(8000);

    // The call used 150 tokens, not 600: 450 come back, and the next call goes at once.
    await first.settle(150);
    expect(await bucketTokens(redis, prefix)).toBeGreaterThanOrEqual(450);
    expect((await limits.acquire({ promptTokens: 100, maxOutputTokens: 0 })).waitedMs).toBe(0);
  });

  it('a failed call keeps its prompt estimate charged and gives its output allowance back', async () => {
    const { redis, prefix } = redisFor();
    const limits = new CallLimits({ redis, prefix, tokensPerMinute: 6000, maxWaitMs: 1000 });
    const permit = await limits.acquire({ promptTokens: 200, maxOutputTokens: 1000 });
    expect(await bucketTokens(redis, prefix)).toBeLessThanOrEqual(6000 - 1200 + 100);
    await permit.settle(undefined);
    const left = await bucketTokens(redis, prefix);
    expect(left).toBeGreaterThanOrEqual(6000 - 200);
    expect(left).toBeLessThan(6000);
  });

  it('the chat guard charges the prompt estimate plus max tokens, then the real usage', async () => {
    const { redis, prefix } = redisFor();
    const ports = await seededFakePorts();
    const seen: number[] = [];
    const answer = ports.chat.answer.bind(ports.chat);
    const chat = {
      ...ports.chat,
      maxOutputTokens: 2000,
      answer: async (...args: Parameters<typeof answer>) => {
        seen.push(await bucketTokens(redis, prefix));
        return answer(...args);
      },
    };
    const limits = new CallLimits({ redis, prefix, tokensPerMinute: 60_000, maxWaitMs: 1000 });
    const policies = policiesFor({ volumeThreshold: 5, resetTimeoutMs: 1000 });
    const events: WorkerEventSink = { emit: () => true };
    const guarded = guardPorts({ ...ports, chat }, policies, { events, limits });
    const question = 'How does bullmq retry?';
    const context = [{ docId: 'a', chunk: 0, text: 'x'.repeat(4000), score: 1 }];
    const out = await guarded.chat.answer({ question, context });
    // While the call ran: at least max tokens and the context's ~1000 tokens were charged
    // (the bucket refills 1,000 a second meanwhile, so the bound leaves that much).
    const estimate = 2000 + estimateTokens('x'.repeat(4000)) + estimateTokens(question);
    expect(seen[0]!).toBeLessThanOrEqual(60_000 - estimate + 1000);
    // After: only what the call reported stays charged.
    const used = out.usage.inputTokens + out.usage.outputTokens;
    expect(await bucketTokens(redis, prefix)).toBeGreaterThanOrEqual(60_000 - used);
  });

  it('a call the provider pause or an open breaker refuses books no turn and no tokens', async () => {
    const { redis, prefix } = redisFor();
    const ports = await seededFakePorts();
    let calls = 0;
    // The provider: a 429 asking for a minute's pause, then (pause over) a 503 that opens the
    // breaker (volume 1). Neither refused call below may reach it.
    let next: () => Promise<never> = () =>
      Promise.reject(new RateLimitedError('429', { retryAfterMs: 60_000 }));
    const chat = {
      ...ports.chat,
      maxOutputTokens: 2000,
      answer: () => {
        calls += 1;
        return next();
      },
    };
    const limits = new CallLimits({
      redis,
      prefix,
      requestsPerMinute: 600,
      tokensPerMinute: 600_000,
      maxWaitMs: 5000,
    });
    const policies = policiesFor({ volumeThreshold: 1, resetTimeoutMs: 60_000 });
    const events: WorkerEventSink = { emit: () => true };
    const guarded = guardPorts({ ...ports, chat }, policies, { events, limits });
    // A large prompt: a charge for it would show in the bucket whatever the refill.
    const input = {
      question: 'q',
      context: [{ docId: 'a', chunk: 0, text: 'x'.repeat(40_000), score: 1 }],
    };
    const booked = async () => ({
      slot: await redis.get(`${prefix}:limits:rpm`),
      tokens: await bucketTokens(redis, prefix),
    });

    await expect(guarded.chat.answer(input)).rejects.toBeInstanceOf(RateLimitedError);
    expect(calls).toBe(1);
    const afterPaused = await booked();
    expect(afterPaused.slot).not.toBeNull();
    // Paused: refused before the provider, and before the limits.
    await expect(guarded.chat.answer(input)).rejects.toBeInstanceOf(RateLimitedError);
    expect(calls).toBe(1);
    const refusedPaused = await booked();
    expect(refusedPaused.slot).toBe(afterPaused.slot);
    expect(refusedPaused.tokens).toBeGreaterThanOrEqual(afterPaused.tokens);

    // An open breaker: a fresh policy set without the pause, opened by one transient failure.
    const fresh = policiesFor({ volumeThreshold: 1, resetTimeoutMs: 60_000 });
    const behindBreaker = guardPorts({ ...ports, chat }, fresh, { events, limits });
    next = () => Promise.reject(new TransientError('503'));
    await expect(behindBreaker.chat.answer(input)).rejects.toBeInstanceOf(TransientError);
    expect(calls).toBe(2);
    expect(fresh.chat.breaker.state).toBe('open');
    const afterOpened = await booked();
    expect(afterOpened.slot).not.toBe(refusedPaused.slot);
    await expect(behindBreaker.chat.answer(input)).rejects.toBeInstanceOf(BreakerOpenError);
    expect(calls).toBe(2);
    const refusedOpen = await booked();
    expect(refusedOpen.slot).toBe(afterOpened.slot);
    expect(refusedOpen.tokens).toBeGreaterThanOrEqual(afterOpened.tokens);
  });
});
