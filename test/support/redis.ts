import { randomUUID } from 'node:crypto';

import { Cluster } from 'ioredis';
import { inject } from 'vitest';

import { createRedisConnection, type Redis, waitUntilReady } from '../../src/shared/redis.ts';
import type { RedisSettings } from '../../src/shared/redis-settings.ts';

/**
 * How the test run reaches Redis: the vitest project `standalone` (every test) or `cluster`
 * (the integration tests that also run against a local Redis Cluster, see vitest.config.ts).
 */
export type TestRedisMode = 'standalone' | 'cluster';

export function testRedisMode(): TestRedisMode {
  return inject('redisMode');
}

/**
 * The standalone Redis URL (REDIS_URL, or the private one global setup started). In the
 * cluster project it is a cluster node, so a test that bypasses {@link testRedisEnv} fails
 * with MOVED instead of quietly testing standalone.
 */
export function testRedisUrl(): string {
  return inject('redisUrl');
}

/** Connection settings of this run's mode, for the connection factory and client classes. */
export function testRedisSettings(): RedisSettings {
  const nodes = inject('redisClusterNodes');
  return testRedisMode() === 'cluster'
    ? { mode: 'cluster', nodes }
    : { mode: 'standalone', url: testRedisUrl() };
}

/** The environment an askq process (CLI, worker, config) needs to reach this run's Redis. */
export function testRedisEnv(): Record<string, string> {
  const env: Record<string, string> = { REDIS_URL: testRedisUrl() };
  if (testRedisMode() === 'cluster') {
    env.ASKQ_REDIS_CLUSTER_NODES = inject('redisClusterNodes')
      .map((n) => `${n.host}:${n.port}`)
      .join(',');
  }
  return env;
}

/** Keys of tests start with this; on the shared cluster, any other key is a stray. */
export const TEST_PREFIX_START = 'askq-test-';

/**
 * A BullMQ prefix unique to one test file or test, so runs never see each other's keys; on
 * a cluster wrapped in a hash tag, as askq requires there.
 */
export function uniquePrefix(label = 't'): string {
  const prefix = `${TEST_PREFIX_START}${label}-${randomUUID().slice(0, 8)}`;
  return testRedisMode() === 'cluster' ? `{${prefix}}` : prefix;
}

/** Every key matching `pattern`: on a cluster, from every master. */
export async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  // A cluster client knows its masters only once it has read the slot map.
  await waitUntilReady(redis, 10_000);
  const servers = redis instanceof Cluster ? redis.nodes('master') : [redis];
  const keys: string[] = [];
  for (const server of servers) {
    let cursor = '0';
    do {
      const [next, found] = await server.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
  }
  return keys;
}

/** Deletes every key under a prefix. */
export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  // MATCH treats braces literally but brackets as a class: escape what glob would read.
  const keys = await scanKeys(redis, `${prefix.replace(/[[\]*?\\]/g, '\\$&')}:*`);
  // One slot on a cluster: a test prefix there has a hash tag, so a multi-key DEL is allowed.
  for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
}

export function testConnection(role: 'worker' | 'producer' = 'worker'): Redis {
  return createRedisConnection(testRedisSettings(), role);
}
