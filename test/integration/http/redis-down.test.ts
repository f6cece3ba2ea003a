import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type LocalRedis, startLocalRedis } from '../../../src/shared/local-redis.ts';
import { startTestApi, TEST_API_KEY, type TestApi } from '../../support/api-server.ts';
import { release } from '../../support/resources.ts';

/** How fast "quickly" is: no offline queue, so no command waits for a reconnect. */
const QUICK_MS = 1000;

describe('HTTP API while Redis is down (a private redis-server, stopped)', () => {
  let redis: LocalRedis;
  let api: TestApi;
  beforeAll(async () => {
    redis = await startLocalRedis();
    api = await startTestApi({ REDIS_URL: redis.url });
    await api.listen();
  });
  afterAll(async () => {
    // Not api.close(): it would delete keys from a Redis that is gone (with it, its keys).
    await api.server.close();
    release(api.server);
    await api.queue.close();
    api.redis.disconnect();
    await redis.stop();
  });

  const headers = { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' };

  it('enqueues while Redis is up, then answers 503 problem documents quickly once it is gone', async () => {
    const up = await fetch(`${api.url}/v1/questions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ question: 'before' }),
    });
    expect(up.status).toBe(202);

    await redis.stop();

    const calls: [string, RequestInit][] = [
      ['/v1/questions', { method: 'POST', headers, body: JSON.stringify({ question: 'during' }) }],
      [
        '/v1/questions/batch',
        { method: 'POST', headers, body: JSON.stringify([{ question: 'x' }]) },
      ],
      ['/v1/questions/1?wait=30', { headers }],
      ['/readyz', {}],
    ];
    for (const [path, init] of calls) {
      const t0 = performance.now();
      const res = await fetch(`${api.url}${path}`, {
        ...init,
        signal: AbortSignal.timeout(10_000),
      });
      const ms = performance.now() - t0;
      expect(res.status, path).toBe(503);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.headers.get('retry-after')).toBe('1');
      const problem = (await res.json()) as { type: string; detail: string };
      expect(problem.type).toBe('urn:askq:problem:unavailable');
      expect(ms, `${path} took ${ms} ms`).toBeLessThan(QUICK_MS);
    }

    // A bad request is still a 400 (validated before Redis is touched), never a 5xx.
    const bad = await fetch(`${api.url}/v1/questions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ question: '' }),
    });
    expect(bad.status).toBe(400);
    // The process itself is alive.
    expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
  });
});
