import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';

import { Queue, Worker } from 'bullmq';
import { Cluster } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';

import { JobWaiter } from '../../../src/producer/http/job-waiter.ts';
import { QUESTIONS_QUEUE } from '../../../src/shared/contracts.ts';
import { type Redis, waitUntilReady } from '../../../src/shared/redis.ts';
import { testConnection, testRedisSettings, uniquePrefix } from '../../support/redis.ts';
import { waitFor } from '../../support/redis-processes.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Redis clients connected as a QueueEvents reader of `prefix`'s questions queue (BullMQ names them). */
async function readers(redis: Redis, prefix: string): Promise<number> {
  await waitUntilReady(redis, 10_000);
  const name = `${prefix}:${Buffer.from(QUESTIONS_QUEUE).toString('base64')}:qe`;
  const servers = redis instanceof Cluster ? redis.nodes('master') : [redis];
  let count = 0;
  for (const server of servers) {
    const list = (await server.client('LIST')) as string;
    count += list.split('\n').filter((line) => line.includes(` name=${name} `)).length;
  }
  return count;
}

describe('JobWaiter (the API’s ?wait=)', () => {
  it('notices a job that finished without an event reaching it, by reading its state again', async () => {
    const waiter = new JobWaiter({
      redis: testRedisSettings(),
      prefix: uniquePrefix(),
      recheckMs: 50,
    });
    cleanups.push(() => waiter.close());
    // The job "finishes" on the third look; no completed event is ever emitted (as when the
    // capped events stream was trimmed past this listener).
    let looks = 0;
    await waiter.wait('gone-from-the-stream', 60_000, async () => ++looks >= 3);
    expect(looks).toBeGreaterThanOrEqual(3);
  });

  it('reads the events stream only while someone waits, and a finish event ends the wait', async () => {
    const prefix = uniquePrefix();
    const redis = testConnection('producer');
    const queue = new Queue(QUESTIONS_QUEUE, { connection: testConnection(), prefix });
    const waiter = new JobWaiter({
      redis: testRedisSettings(),
      prefix,
      // Neither the rechecks nor the wait's timeout can end the wait within the test's
      // timeout: only the completed event can.
      recheckMs: 600_000,
      idleMs: 50,
    });
    cleanups.push(
      () => queue.obliterate({ force: true }).then(() => queue.close()),
      async () => redis.disconnect(),
      () => waiter.close(),
    );
    const job = await queue.add('answer', { question: 'Is anyone listening?' });
    expect(await readers(redis, prefix)).toBe(0);

    let looks = 0;
    const waited = waiter.wait(job.id!, 600_000, async () => {
      looks++;
      return (await queue.getJobState(job.id!)) === 'completed';
    });
    await waitFor(async () => (await readers(redis, prefix)) === 1, 10_000, 'the events reader');
    expect(looks).toBe(1);

    const worker = new Worker(QUESTIONS_QUEUE, async () => 'answered', {
      connection: testConnection(),
      prefix,
    });
    cleanups.push(() => worker.close());
    await waited;
    expect(await queue.getJobState(job.id!)).toBe('completed');
    expect(looks).toBe(1);

    // The last wait ended: the reader closes after `idleMs`.
    await waitFor(async () => (await readers(redis, prefix)) === 0, 10_000, 'the reader to close');
  });

  it('closes without waiting for a reader still starting against a Redis that never answers', async () => {
    // A server that accepts connections and says nothing: the reader's first command hangs.
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    cleanups.push(async () => {
      for (const socket of sockets) socket.destroy();
      silent.close();
    });
    const { port } = silent.address() as { port: number };
    const waiter = new JobWaiter({
      redis: { mode: 'standalone', url: `redis://127.0.0.1:${port}` },
      prefix: uniquePrefix(),
      recheckMs: 600_000,
    });
    // The wait ends by its own timeout, the reader still starting.
    await waiter.wait('never-seen', 200, async () => false);
    expect(sockets.size).toBeGreaterThan(0);
    // Its close is bounded, not held by that start (a hang would end at the test's timeout).
    await waiter.close();
  });
});
