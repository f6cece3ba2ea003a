import { afterEach, describe, expect, it } from 'vitest';

import { RateLimitedError } from '../../src/shared/errors.ts';
import { corpusVersionKey } from '../../src/worker/answer-cache.ts';
import { rpmLimiter } from '../../src/worker/askq-worker.ts';
import { TokenBudget } from '../../src/worker/resilience/token-budget.ts';
import { type FakePorts, seededFakePorts } from '../support/fake-ports.ts';
import { deletePrefix, testConnection, uniquePrefix } from '../support/redis.ts';
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

describe('answer cache (ASKQ_CACHE=on)', () => {
  it('answers a repeated question without calling a model, until the corpus changes', async () => {
    const { h, ports } = await seeded({ ASKQ_CACHE: 'on' });
    const ask = async (question: string) => {
      const { id } = await h.client.ask({ question });
      return h.client.waitForAnswer(id, { timeoutMs: 10_000 });
    };
    const first = await ask('How does bullmq retry?');
    expect(first.cached).toBeUndefined();
    const calls = { ...ports.calls };

    const second = await ask('How does bullmq retry?');
    expect(second.cached).toBe(true);
    expect(second.answer).toBe(first.answer);
    expect(second.sources).toEqual(first.sources);
    expect(ports.calls.chat).toBe(calls.chat);
    expect(ports.calls.embed).toBe(calls.embed);

    const other = await ask('Something else about bullmq?');
    expect(other.cached).toBeUndefined();

    // Ingestion bumps the namespace's corpus version: the old answer is not served again.
    await h.redis.incr(corpusVersionKey(h.config.ASKQ_PREFIX, 'default'));
    const third = await ask('How does bullmq retry?');
    expect(third.cached).toBeUndefined();
    expect(ports.calls.chat).toBe(calls.chat + 2);
  });

  it('is off by default', async () => {
    const { h, ports } = await seeded({});
    for (let i = 0; i < 2; i += 1) {
      const { id } = await h.client.ask({ question: 'same' });
      expect((await h.client.waitForAnswer(id, { timeoutMs: 10_000 })).cached).toBeUndefined();
    }
    expect(ports.calls.chat).toBe(2);
  });
});

describe('provider limits', () => {
  it('spreads ASKQ_LLM_RPM over seconds', () => {
    expect(rpmLimiter(600)).toEqual({ max: 10, duration: 1000 });
    expect(rpmLimiter(90)).toEqual({ max: 1, duration: 1000 });
    expect(rpmLimiter(30)).toEqual({ max: 1, duration: 2000 });
  });

  it('keeps the whole pool under ASKQ_LLM_RPM', async () => {
    const { h, ports } = await seeded({ ASKQ_LLM_RPM: '120' });
    const { ids } = await h.client.askMany(
      Array.from({ length: 6 }, (_, i) => ({ question: `q${i}` })),
    );
    await Promise.all(ids.map((id) => h.client.waitForAnswer(id, { timeoutMs: 20_000 })));
    const times = ports.chatTimes;
    expect(times).toHaveLength(6);
    // BullMQ's limiter counts in fixed one-second windows of 2: six calls need three windows,
    // and no sliding second can hold more than two windows' worth.
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThanOrEqual(1000);
    for (const t of times) {
      expect(times.filter((u) => u >= t && u < t + 1000).length).toBeLessThanOrEqual(4);
    }
  });

  it('a token budget empties with reported usage and says when it refills', async () => {
    const redis = testConnection();
    const prefix = uniquePrefix('tpm');
    try {
      const budget = new TokenBudget({ redis, prefix, tokensPerMinute: 600 });
      await budget.check();
      await budget.spend(900);
      const err = await budget.check().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RateLimitedError);
      // 300 tokens in debt at 10 tokens/s: about 30 s until one token is back.
      expect((err as RateLimitedError).retryAfterMs).toBeGreaterThan(29_000);
      expect((err as RateLimitedError).retryAfterMs).toBeLessThanOrEqual(30_200);
    } finally {
      await deletePrefix(redis, prefix);
      await redis.quit();
    }
  });
});
