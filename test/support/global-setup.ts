import type { TestProject } from 'vitest/node';

import { redactUrl } from '../../src/shared/config.ts';
import { type LocalRedis, startLocalRedis } from '../../src/shared/local-redis.ts';
import { redisAnswers } from '../../src/shared/redis.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

let redis: LocalRedis | undefined;

/**
 * Uses REDIS_URL when a Redis answers there, else a private redis-server from PATH on a free
 * port (said in one line when REDIS_URL named one that does not answer).
 */
export async function setup(project: TestProject): Promise<void> {
  let url = process.env.REDIS_URL;
  if (!url || !(await redisAnswers(url))) {
    redis = await startLocalRedis();
    if (url)
      console.warn(
        `No Redis answers at ${redactUrl(url)}; the tests use a private one at ${redis.url}`,
      );
    url = redis.url;
  }
  project.provide('redisUrl', url);
}

export async function teardown(): Promise<void> {
  await redis?.stop();
}
