import { afterEach, describe, expect, it } from 'vitest';

import { corpusVersionKey } from '../../src/worker/answer-cache.ts';
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
