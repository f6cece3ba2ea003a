import { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  apiServerOptionsFromConfig,
  createApiServer,
} from '../../../src/producer/http/create-api-server.ts';
import { ConfigError } from '../../../src/shared/config.ts';
import { QUESTIONS_QUEUE } from '../../../src/shared/contracts.ts';
import { DEFAULTS } from '../../../src/shared/defaults.ts';
import { createRedisConnection } from '../../../src/shared/redis.ts';
import { redisSettingsFrom } from '../../../src/shared/redis-settings.ts';
import {
  OTHER_API_KEY,
  startTestApi,
  TEST_API_KEY,
  type TestApi,
} from '../../support/api-server.ts';
import { testConfig } from '../../support/config.ts';

const auth = (key = TEST_API_KEY) => ({ authorization: `Bearer ${key}` });

describe('HTTP API: questions (fastify.inject)', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi({ ASKQ_MAX_BATCH: '5' });
  });
  afterAll(async () => {
    await api.close();
  });

  it('enqueues a question: 202, its id, a Location, and the job holds exactly the fields sent', async () => {
    const res = await api.server.app.inject({
      method: 'POST',
      url: '/v1/questions',
      headers: auth(),
      payload: { question: 'What is LCEL?', topK: 3, metadata: { team: 'search' } },
    });
    expect(res.statusCode).toBe(202);
    const body = res.json<{ id: string; status: string; links: { self: string } }>();
    expect(body.status).toBe('prioritized');
    expect(body.id).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(body.links.self).toBe(`/v1/questions/${body.id}`);
    expect(res.headers.location).toBe(body.links.self);
    const job = await api.queue.getJob(body.id);
    expect(job?.name).toBe('answer');
    // The caller's fields, and the API's record of who sent it (a fingerprint, never the key).
    expect(job?.data).toEqual({
      question: 'What is LCEL?',
      topK: 3,
      metadata: { team: 'search' },
      __origin: {
        owner: expect.stringMatching(/^key:[0-9a-f]{16}$/),
        requestId: res.headers['x-request-id'],
      },
    });
    expect(JSON.stringify(job?.data)).not.toContain(TEST_API_KEY);
    // Retention is never the caller's; at the defaults the job carries none, and the worker's
    // ASKQ_KEEP_* (the same defaults) bound it.
    expect(api.config.ASKQ_KEEP_COMPLETED).toBe(DEFAULTS.keepCompleted);
    expect(job?.opts).not.toHaveProperty('removeOnComplete');
    expect(job?.opts).not.toHaveProperty('removeOnFail');
  });

  it("carries a question's opt-out of degraded answers into its job, and checks its type", async () => {
    const res = await api.server.app.inject({
      method: 'POST',
      url: '/v1/questions',
      headers: auth(),
      payload: { question: 'What is LCEL?', degrade: false },
    });
    expect(res.statusCode).toBe(202);
    const job = await api.queue.getJob(res.json<{ id: string }>().id);
    expect(job?.data).toEqual({
      question: 'What is LCEL?',
      degrade: false,
      __origin: expect.objectContaining({ owner: expect.stringMatching(/^key:/) }),
    });
    const bad = await api.server.app.inject({
      method: 'POST',
      url: '/v1/questions',
      headers: auth(),
      payload: { question: 'What is LCEL?', degrade: 'no' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toMatch(/degrade/);
  });

  it('carries sourceText "full" into the job, in a batch too, and rejects any other mode', async () => {
    const res = await api.server.app.inject({
      method: 'POST',
      url: '/v1/questions/batch',
      headers: auth(),
      payload: [{ question: 'What is LCEL?', sourceText: 'full' }, { question: 'And RAG?' }],
    });
    expect(res.statusCode).toBe(202);
    const [full, plain] = res.json<{ ids: string[] }>().ids;
    expect((await api.queue.getJob(full!))?.data).toMatchObject({ sourceText: 'full' });
    expect((await api.queue.getJob(plain!))?.data).not.toHaveProperty('sourceText');
    const bad = await api.server.app.inject({
      method: 'POST',
      url: '/v1/questions',
      headers: auth(),
      payload: { question: 'What is LCEL?', sourceText: 'all' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toMatch(/sourceText/);
  });

  it('maps an Idempotency-Key to one job: same key → same id (200), nothing new enqueued', async () => {
    const send = (question: string, key = 'order-42', who = TEST_API_KEY) =>
      api.server.app.inject({
        method: 'POST',
        url: '/v1/questions',
        headers: { ...auth(who), 'idempotency-key': key },
        payload: { question },
      });
    const first = await send('Is it idempotent?');
    expect(first.statusCode).toBe(202);
    const before = await api.jobFootprint();
    const again = await send('Is it idempotent?');
    expect(again.statusCode).toBe(200);
    expect(again.json<{ id: string }>().id).toBe(first.json<{ id: string }>().id);
    expect(await api.jobFootprint()).toEqual(before);

    const reused = await send('A different question');
    expect(reused.statusCode).toBe(422);
    expect(reused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(await api.jobFootprint()).toEqual(before);

    // Another caller's same key is another job: keys are scoped to the API key.
    const other = await send('Is it idempotent?', 'order-42', OTHER_API_KEY);
    expect(other.statusCode).toBe(202);
    expect(other.json<{ id: string }>().id).not.toBe(first.json<{ id: string }>().id);
  });

  it('enqueues a batch atomically with one addBulk and answers the ids in order', async () => {
    const res = await api.server.app.inject({
      method: 'POST',
      url: '/v1/questions/batch',
      headers: auth(),
      payload: [{ question: 'one' }, { question: 'two', namespace: 'docs' }, { question: 'three' }],
    });
    expect(res.statusCode).toBe(202);
    const { ids } = res.json<{ ids: string[] }>();
    expect(ids).toHaveLength(3);
    const jobs = await Promise.all(ids.map((id) => api.queue.getJob(id)));
    expect(jobs.map((j) => j?.data.question)).toEqual(['one', 'two', 'three']);
  });

  it('rejects a whole batch when one item is bad or it is over ASKQ_MAX_BATCH', async () => {
    const before = await api.jobFootprint();
    const bad = await api.server.app.inject({
      method: 'POST',
      url: '/v1/questions/batch',
      headers: auth(),
      payload: [{ question: 'fine' }, { question: 'bad', priority: 1 }],
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ detail: string }>().detail).toMatch(/1.*priority/);
    const big = await api.server.app.inject({
      method: 'POST',
      url: '/v1/questions/batch',
      headers: auth(),
      payload: Array.from({ length: 6 }, (_, i) => ({ question: `q${i}` })),
    });
    expect(big.statusCode).toBe(400);
    expect(big.json<{ detail: string }>().detail).toMatch(/5/);
    expect(await api.jobFootprint()).toEqual(before);
  });

  it('reads a status; an unknown id is a 404 problem', async () => {
    const { id } = (
      await api.server.app.inject({
        method: 'POST',
        url: '/v1/questions',
        headers: auth(),
        payload: { question: 'status?' },
      })
    ).json<{ id: string }>();
    const res = await api.server.app.inject({ url: `/v1/questions/${id}`, headers: auth() });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id, state: 'prioritized', attempts: 0 });
    expect(res.json<{ createdAt: number }>().createdAt).toBeGreaterThan(0);
    const missing = await api.server.app.inject({ url: '/v1/questions/nope', headers: auth() });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ status: 404, type: 'urn:askq:problem:not-found' });
  });

  it('asks for a key: none or a wrong one is a 401 with a Bearer challenge', async () => {
    const none = await api.server.app.inject({ method: 'GET', url: '/v1/questions/1' });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    const wrong = await api.server.app.inject({
      url: '/v1/questions/1',
      headers: auth('not-a-key-at-all-0000000000'),
    });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json<{ detail: string }>().detail).not.toContain('not-a-key');
  });
});

describe('HTTP API: long poll (?wait)', () => {
  let api: TestApi;
  let worker: Worker;
  const gates = new Map<string, () => void>();
  const started = new Map<string, () => void>();
  const startedPromises = new Map<string, Promise<void>>();

  beforeAll(async () => {
    api = await startTestApi();
    // A worker we hold: each job waits for its gate, so the test decides when it finishes.
    const connection = createRedisConnection(redisSettingsFrom(api.config), 'worker');
    worker = new Worker(
      QUESTIONS_QUEUE,
      async (job) => {
        started.get(job.data.question as string)?.();
        await new Promise<void>((resolve) => gates.set(job.data.question as string, resolve));
        return { answer: `answer to ${job.data.question}`, traceId: '' };
      },
      { connection, prefix: api.config.ASKQ_PREFIX, concurrency: 5 },
    );
    await worker.waitUntilReady();
  });
  afterAll(async () => {
    for (const open of gates.values()) open();
    await worker.close();
    await worker.disconnect();
    await api.close();
  });

  const enqueueAndWaitActive = async (question: string) => {
    startedPromises.set(question, new Promise<void>((r) => started.set(question, r)));
    const res = await api.server.app.inject({
      method: 'POST',
      url: '/v1/questions',
      headers: auth(),
      payload: { question },
    });
    await startedPromises.get(question);
    return res.json<{ id: string }>().id;
  };

  it('holds the request until the job completes, then answers with the result', async () => {
    const id = await enqueueAndWaitActive('held');
    const polled = api.server.app.inject({ url: `/v1/questions/${id}?wait=20`, headers: auth() });
    let answered = false;
    void polled.then(() => (answered = true));
    // The poll is registered once its listeners exist; a status read proves the server is past it.
    await api.server.app.inject({ url: `/v1/questions/${id}`, headers: auth() });
    expect(answered).toBe(false);
    gates.get('held')!();
    const res = await polled;
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      id,
      state: 'completed',
      result: { answer: 'answer to held' },
    });
  });

  it('answers the current state when the wait ends first', async () => {
    const id = await enqueueAndWaitActive('slow');
    const t0 = performance.now();
    const res = await api.server.app.inject({
      url: `/v1/questions/${id}?wait=0.3`,
      headers: auth(),
    });
    const ms = performance.now() - t0;
    expect(res.json()).toMatchObject({ id, state: 'active' });
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(ms).toBeLessThan(5000);
    gates.get('slow')!();
  });

  it('rejects a wait over 60 s', async () => {
    const res = await api.server.app.inject({ url: '/v1/questions/1?wait=61', headers: auth() });
    expect(res.statusCode).toBe(400);
    expect(res.json<{ detail: string }>().detail).toMatch(/querystring\.wait/);
  });
});

describe('HTTP API: start-up', () => {
  it('refuses to start without keys unless ASKQ_ALLOW_ANONYMOUS=true', async () => {
    await expect(createApiServer(apiServerOptionsFromConfig(testConfig()))).rejects.toThrow(
      ConfigError,
    );
    const open = await startTestApi({
      ASKQ_API_KEYS: '',
      ASKQ_ADMIN_KEYS: '',
      ASKQ_ALLOW_ANONYMOUS: 'true',
    });
    try {
      const res = await open.server.app.inject({
        method: 'POST',
        url: '/v1/questions',
        payload: { question: 'anyone?' },
      });
      expect(res.statusCode).toBe(202);
    } finally {
      await open.close();
    }
  });
});
