import { afterEach, describe, expect, it } from 'vitest';

import { seededFakePorts } from '../support/fake-ports.ts';
import { type Harness, startHarness } from '../support/worker-harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function keyCount(harness: Harness): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await harness.redis.scan(
      cursor,
      'MATCH',
      `${harness.config.ASKQ_PREFIX}:*`,
      'COUNT',
      1000,
    );
    cursor = next;
    n += keys.length;
  } while (cursor !== '0');
  return n;
}

describe('Redis memory stays bounded', () => {
  it('keeps at most ASKQ_KEEP_COMPLETED finished jobs however many ran', async () => {
    h = await startHarness({
      ports: await seededFakePorts(),
      env: { ASKQ_KEEP_COMPLETED: '50', ASKQ_CONCURRENCY: '20' },
    });
    const counts: number[] = [];
    for (let round = 0; round < 4; round += 1) {
      const { ids } = await h.client.askMany(
        Array.from({ length: 100 }, (_, i) => ({ question: `round ${round} question ${i}` })),
      );
      // A foreign producer's jobs, with no retention options of their own.
      const foreign = await h.queue.addBulk(
        Array.from({ length: 50 }, (_, i) => ({
          name: 'answer',
          data: { question: `foreign ${round} ${i}` },
        })),
      );
      ids.push(...foreign.map((j) => j.id!));
      await h.client.waitForAnswer(ids.at(-1)!, { timeoutMs: 30_000 });
      await Promise.all(
        ids.slice(-10).map((id) => h!.client.waitForAnswer(id, { timeoutMs: 30_000 })),
      );
      counts.push(await keyCount(h));
    }
    const completed = await h.queue.getCompletedCount();
    expect(completed).toBeLessThanOrEqual(50);
    // 600 jobs ran; the key count after each round of 150 stays the same order, not growing.
    const [first, , , last] = counts;
    expect(last!).toBeLessThanOrEqual(first! + 10);
    expect(last!).toBeLessThan(150);
  });
});
