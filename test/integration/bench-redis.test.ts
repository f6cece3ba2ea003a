import { afterEach, describe, expect, it } from 'vitest';

import { BENCH_REDIS_ENV, type BenchRedis, benchRedis } from '../../bench/lib/bench-redis.ts';
import { createRedisConnection, waitUntilReady } from '../../src/shared/redis.ts';
import { testRedisUrl } from '../support/redis.ts';

const saved = { REDIS_URL: process.env.REDIS_URL, bench: process.env[BENCH_REDIS_ENV] };
let started: BenchRedis | undefined;
afterEach(async () => {
  await started?.stop();
  started = undefined;
  for (const [k, v] of [
    ['REDIS_URL', saved.REDIS_URL],
    [BENCH_REDIS_ENV, saved.bench],
  ] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

async function ping(url: string): Promise<string> {
  const redis = createRedisConnection(url, 'producer');
  try {
    await waitUntilReady(redis, 5000);
    return await redis.ping();
  } finally {
    redis.disconnect();
  }
}

describe('the Redis a benchmark runs against', () => {
  it('is a private redis-server even when REDIS_URL names a dead one', async () => {
    process.env.REDIS_URL = 'redis://127.0.0.1:1';
    delete process.env[BENCH_REDIS_ENV];
    started = await benchRedis('eval-run');
    expect(started.url).not.toBe(process.env.REDIS_URL);
    expect(started.pid).toBeGreaterThan(0);
    expect(started.description).toBe('private redis-server');
    expect(await ping(started.url)).toBe('PONG');
  });

  it('is the external one ASKQ_BENCH_REDIS_URL names, except for a benchmark that must own its server', async () => {
    process.env[BENCH_REDIS_ENV] = testRedisUrl();
    const external = await benchRedis('eval-run');
    expect(external).toMatchObject({ url: testRedisUrl(), pid: undefined });
    await external.stop(); // leaves the external Redis alone
    expect(await ping(testRedisUrl())).toBe('PONG');
    started = await benchRedis('redis-memory');
    expect(started.url).not.toBe(testRedisUrl());
    expect(await ping(started.url)).toBe('PONG');
  });
});
