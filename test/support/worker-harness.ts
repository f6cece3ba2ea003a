import { Queue } from 'bullmq';

import { AskqClient, clientOptionsFromConfig } from '../../src/producer/askq-client.ts';
import type { Config } from '../../src/shared/config.ts';
import { createRedisConnection, type Redis } from '../../src/shared/redis.ts';
import { redisSettingsFrom } from '../../src/shared/redis-settings.ts';
import {
  AskqWorker,
  type AskqWorkerOptions,
  workerOptionsFromConfig,
} from '../../src/worker/askq-worker.ts';
import { testConfig } from './config.ts';
import { deletePrefix, uniquePrefix } from './redis.ts';
import { release, track } from './resources.ts';

/**
 * A worker, a client and a raw queue on a prefix of their own; `close()` stops them all and
 * deletes the prefix's keys.
 */
export interface Harness {
  config: Config;
  worker: AskqWorker;
  client: AskqClient;
  /** The questions queue as a foreign producer sees it. */
  queue: Queue;
  redis: Redis;
  close(): Promise<void>;
}

export async function startHarness(
  options: AskqWorkerOptions & { env?: Record<string, string> } = {},
): Promise<Harness> {
  const { env, ...workerOptions } = options;
  const config = testConfig({ ASKQ_PREFIX: uniquePrefix(), ...env });
  const worker = track(
    await AskqWorker.start({ ...workerOptionsFromConfig(config), ...workerOptions }),
    'AskqWorker',
  );
  await worker.waitUntilReady();
  const client = track(new AskqClient(clientOptionsFromConfig(config)), 'AskqClient');
  const redis = createRedisConnection(redisSettingsFrom(config), 'worker');
  // skipMetasUpdate: a BullMQ Queue handle writes the queue's meta (the events-stream cap) as
  // it starts; this one leaves it as the worker and client set it (ASKQ_EVENTS_MAX_LEN).
  const queue = new Queue('questions', {
    connection: redis,
    prefix: config.ASKQ_PREFIX,
    skipMetasUpdate: true,
  });
  return {
    config,
    worker,
    client,
    queue,
    redis,
    async close() {
      await worker.close(5000);
      release(worker);
      await client.close();
      release(client);
      await queue.close();
      await deletePrefix(redis, config.ASKQ_PREFIX);
      await redis.quit();
    },
  };
}
