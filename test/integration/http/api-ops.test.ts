import { readFile } from 'node:fs/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  OTHER_API_KEY,
  startTestApi,
  TEST_API_KEY,
  type TestApi,
} from '../../support/api-server.ts';

const auth = (key = TEST_API_KEY) => ({ authorization: `Bearer ${key}` });

describe('HTTP API: health, readiness, metrics, docs, schema', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi();
  });
  afterAll(async () => {
    await api.close();
  });

  it('answers /healthz and /readyz (Redis answers with noeviction) without a key', async () => {
    const health = await api.server.app.inject({ url: '/healthz' });
    expect(health.statusCode).toBe(200);
    expect(health.json()).toEqual({ status: 'ok' });
    const ready = await api.server.app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({
      status: 'ready',
      redisMemory: { usedBytes: expect.any(Number), maxBytes: expect.any(Number) },
    });
  });

  it('exports Prometheus text with the queues and the requests by route and status', async () => {
    await api.server.app.inject({
      method: 'POST',
      url: '/v1/questions',
      headers: auth(),
      payload: { question: 'counted?' },
    });
    const res = await api.server.app.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const text = res.body;
    // API questions carry a fair-share priority: BullMQ counts them as prioritized.
    expect(text).toContain('bullmq_job_count{queue="questions", state="prioritized"} 1');
    expect(text).toContain('bullmq_job_count{queue="ingest", state="waiting"} 0');
    expect(text).toMatch(
      /askq_api_http_requests_total\{method="POST",route="\/v1\/questions",status="202"\} 1/,
    );
    expect(text).toContain('askq_api_http_request_duration_seconds_bucket');
    // One HELP and TYPE per family, although two queues export it.
    expect(text.match(/# TYPE bullmq_job_count gauge/g)).toHaveLength(1);
  });

  it('serves OpenAPI 3 generated from the schemas the handlers validate with', async () => {
    const res = await api.server.app.inject({ url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json<{
      openapi: string;
      paths: Record<string, Record<string, { requestBody?: unknown; security?: unknown }>>;
      components: {
        schemas: Record<
          string,
          { additionalProperties?: unknown; properties?: Record<string, { maximum?: number }> }
        >;
      };
    }>();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/questions',
        '/v1/questions/batch',
        '/v1/questions/{id}',
        '/readyz',
      ]),
    );
    expect(doc.paths['/v1/questions']?.post?.security).toEqual([{ bearerAuth: [] }]);
    const request = Object.entries(doc.components.schemas).find(([name]) =>
      name.startsWith('QuestionRequest'),
    )?.[1];
    expect(request?.additionalProperties).toBe(false);
    expect(request?.properties?.topK?.maximum).toBe(50);
    expect(Object.keys(doc.paths).some((p) => p.startsWith('/admin'))).toBe(false);
    const ui = await api.server.app.inject({ url: '/docs/' });
    expect(ui.statusCode).toBe(200);
    expect(ui.headers['content-type']).toMatch(/text\/html/);
  });

  it('serves the job contract at /v1/schema, byte for byte the generated file', async () => {
    const res = await api.server.app.inject({ url: '/v1/schema' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/schema\+json/);
    const file = await readFile(
      new URL('../../../schemas/answer-job.schema.json', import.meta.url),
      'utf8',
    );
    expect(res.body).toBe(file);
  });
});

describe('HTTP API: rate limiting per key, shared through Redis', () => {
  let a: TestApi;
  let b: TestApi;
  beforeAll(async () => {
    a = await startTestApi({ ASKQ_RATE_LIMIT_MAX: '3', ASKQ_RATE_LIMIT_WINDOW_MS: '60000' });
    // A second API process on the same prefix: same Redis buckets.
    b = await startTestApi({
      ASKQ_PREFIX: a.config.ASKQ_PREFIX,
      ASKQ_RATE_LIMIT_MAX: '3',
      ASKQ_RATE_LIMIT_WINDOW_MS: '60000',
    });
  });
  afterAll(async () => {
    await b.close();
    await a.close();
  });

  it('answers 429 with Retry-After once a key spends its budget on any API process', async () => {
    const ask = (api: TestApi, key: string) =>
      api.server.app.inject({
        method: 'POST',
        url: '/v1/questions',
        headers: auth(key),
        payload: { question: 'limited?' },
      });
    expect((await ask(a, TEST_API_KEY)).statusCode).toBe(202);
    expect((await ask(b, TEST_API_KEY)).statusCode).toBe(202);
    expect((await ask(a, TEST_API_KEY)).statusCode).toBe(202);
    const before = await a.jobFootprint();
    const limited = await ask(b, TEST_API_KEY);
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['content-type']).toMatch(/^application\/problem\+json/);
    const retryAfter = Number(limited.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(limited.json()).toMatchObject({ status: 429, type: 'urn:askq:problem:rate-limited' });
    expect(await a.jobFootprint()).toEqual(before);
    // Another key has its own budget.
    expect((await ask(a, OTHER_API_KEY)).statusCode).toBe(202);
    // Health checks are never limited.
    expect((await a.server.app.inject({ url: '/healthz' })).statusCode).toBe(200);
  });
});
