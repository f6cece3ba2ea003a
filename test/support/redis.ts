import { randomUUID } from 'node:crypto';

import { inject } from 'vitest';

import { createRedisConnection, type Redis } from '../../src/shared/redis.ts';

/** The Redis the test run uses (REDIS_URL, or the private one global setup started). */
export function testRedisUrl(): string {
  return inject('redisUrl');
}

/** A BullMQ prefix unique to one test file or test, so runs never see each other's keys. */
export function uniquePrefix(label = 't'): string {
  return `askq-test-${label}-${randomUUID().slice(0, 8)}`;
}

/** Deletes every key under a prefix. */
export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}

export function testConnection(role: 'worker' | 'producer' = 'worker'): Redis {
  return createRedisConnection(testRedisUrl(), role);
}
