import { afterEach, describe, expect, it } from 'vitest';

import { AskqClient } from '../../src/producer/askq-client.ts';
import { testRedisSettings, uniquePrefix } from '../support/redis.ts';

let client: AskqClient | undefined;
afterEach(async () => {
  await client?.queue.obliterate({ force: true });
  await client?.close();
  client = undefined;
});

type AddBulk = AskqClient['queue']['addBulk'];

/**
 * Wraps the client's real addBulk (still sent to Redis) to count the calls in flight; each
 * call first runs `before`, which may hold or fail it.
 */
function countAddBulk(c: AskqClient, before: () => Promise<void>): { most: () => number } {
  const real: AddBulk = c.queue.addBulk.bind(c.queue);
  let inFlight = 0;
  let most = 0;
  c.queue.addBulk = (async (jobs) => {
    inFlight += 1;
    most = Math.max(most, inFlight);
    try {
      await before();
      return await real(jobs);
    } finally {
      inFlight -= 1;
    }
  }) as AddBulk;
  return { most: () => most };
}

const questions = (label: string, n: number) =>
  Array.from({ length: n }, (_, i) => ({ question: `${label} ${i}` }));

describe('AskqClient bounds the addBulk calls it has in flight', () => {
  it('sends at most maxBulkInFlight chunks at once however many askMany calls overlap', async () => {
    client = new AskqClient({
      redis: testRedisSettings(),
      prefix: uniquePrefix('bulk'),
      bulkChunkSize: 5,
      maxBulkInFlight: 2,
    });
    // Every chunk is held until two are in flight together, so the bound is reached (a
    // client that sent one at a time would never get past here) and, with six callers waiting,
    // a client without the bound would have all of them in flight.
    let reached!: () => void;
    const two = new Promise<void>((resolve) => (reached = resolve));
    const counter = countAddBulk(client, async () => {
      if (counter.most() >= 2) reached();
      await two;
    });
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, k) => client!.askMany(questions(`caller ${k}`, 10))),
    );

    expect(counter.most()).toBe(2);
    const ids = results.flatMap((r) => r.ids);
    expect(new Set(ids).size).toBe(60);
    expect(await client.queue.getWaitingCount()).toBe(60);
  });

  it('frees the turn of a chunk that failed, so the next batch is sent', async () => {
    client = new AskqClient({
      redis: testRedisSettings(),
      prefix: uniquePrefix('bulk'),
      maxBulkInFlight: 1,
    });
    let calls = 0;
    countAddBulk(client, async () => {
      calls += 1;
      if (calls === 1) throw new Error('Redis refused the chunk');
    });

    await expect(client.askMany(questions('refused', 3))).rejects.toThrow(
      'Redis refused the chunk',
    );
    const { ids } = await client.askMany(questions('accepted', 3));

    expect(ids).toHaveLength(3);
    expect(await client.queue.getWaitingCount()).toBe(3);
  });

  it('refuses a bound that is not a whole number of at least 1, before connecting', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => new AskqClient({ maxBulkInFlight: bad })).toThrow(
        `maxBulkInFlight must be a whole number ≥ 1, got ${bad}`,
      );
    }
  });
});
