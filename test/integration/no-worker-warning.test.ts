import { Worker } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';

import { warnWhileNoWorker } from '../../src/cli/no-worker-warning.ts';
import { deletePrefix, testConnection, testRedisUrl, uniquePrefix } from '../support/redis.ts';

const prefix = uniquePrefix('no-worker');
const redis = testConnection();

afterAll(async () => {
  await deletePrefix(redis, prefix);
  await redis.quit();
});

/** Runs the warning until it has looked `looks` times; returns the lines and worker counts. */
async function watch(looks: number, repeatEveryMs: number, queueName: string) {
  const lines: string[] = [];
  const counts: (number | undefined)[] = [];
  let stop: (() => Promise<void>) | undefined;
  await new Promise<void>((resolve) => {
    stop = warnWhileNoWorker({
      redis: testRedisUrl(),
      prefix,
      queueName,
      write: (line) => lines.push(line),
      firstCheckMs: 0,
      checkEveryMs: 5,
      repeatEveryMs,
      onCheck: (workers) => {
        counts.push(workers);
        if (counts.length === looks) resolve();
      },
    });
  });
  await stop?.();
  return { lines, counts };
}

describe('warnWhileNoWorker (real Redis)', () => {
  it('says once, not at every look, while no worker consumes the queue', async () => {
    const { lines, counts } = await watch(6, 60_000, 'lonely');
    expect(counts).toEqual([0, 0, 0, 0, 0, 0]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('no worker is consuming the "lonely" queue');
  });

  it('says it again once the repeat interval has passed', async () => {
    const { lines } = await watch(3, 0, 'lonely');
    expect(lines).toHaveLength(3);
  });

  it('says nothing while a worker is connected to the queue', async () => {
    const connection = testConnection();
    const worker = new Worker('busy', async () => undefined, { connection, prefix });
    await worker.waitUntilReady();
    try {
      const { lines, counts } = await watch(3, 0, 'busy');
      expect(counts).toEqual([1, 1, 1]);
      expect(lines).toEqual([]);
    } finally {
      await worker.close();
      await connection.quit();
    }
  });
});
