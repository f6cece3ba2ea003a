import type { TestProject } from 'vitest/node';

import { type LocalRedis, startLocalRedis } from '../../src/shared/local-redis.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

let redis: LocalRedis | undefined;

/** Uses REDIS_URL when set, else a private redis-server from PATH on a free port. */
export async function setup(project: TestProject): Promise<void> {
  let url = process.env.REDIS_URL;
  if (!url) {
    redis = await startLocalRedis();
    url = redis.url;
  }
  project.provide('redisUrl', url);
}

export async function teardown(): Promise<void> {
  await redis?.stop();
}
