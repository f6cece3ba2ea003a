import { type Job, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AskqClient } from '../../../src/index.ts';
import { ANSWER_JOB, QUESTIONS_QUEUE } from '../../../src/shared/contracts.ts';
import { duplicateConnection } from '../../../src/shared/redis.ts';
import {
  ADMIN_API_KEY,
  OTHER_API_KEY,
  startTestApi,
  TEST_API_KEY,
  type TestApi,
} from '../../support/api-server.ts';

const A = TEST_API_KEY;
const B = OTHER_API_KEY;
const auth = (key: string) => ({ authorization: `Bearer ${key}` });

describe('HTTP API: two keys and an admin key', () => {
  let api: TestApi;
  let idOfA: string;
  let idOfB: string;
  let foreignId: string;
  beforeAll(async () => {
    api = await startTestApi();
    const ask = async (key: string, question: string) =>
      (
        await api.server.app.inject({
          method: 'POST',
          url: '/v1/questions',
          headers: auth(key),
          payload: { question },
        })
      ).json<{ id: string }>().id;
    idOfA = await ask(A, 'a question of A');
    idOfB = await ask(B, 'a question of B');
    // A foreign producer's job, added straight to Redis: no owner.
    foreignId = (await api.queue.add(ANSWER_JOB, { question: 'foreign' })).id!;
  });
  afterAll(async () => {
    await api.close();
  });

  const request = (method: 'GET' | 'DELETE', key: string, url: string) =>
    api.server.app.inject({ method, url, headers: auth(key) });

  it.each([
    ['reads', 'GET', ''],
    ['long polls', 'GET', '?wait=0.2'],
    ['cancels', 'DELETE', ''],
  ] as const)(
    "%s another key's question: 404, exactly as for an id that does not exist",
    async (_what, method, query) => {
      const missing = await request(method, A, `/v1/questions/no-such-id${query}`);
      const cases = [
        [A, idOfB],
        [B, idOfA],
        [A, foreignId],
        [B, foreignId],
      ] as const;
      for (const [key, id] of cases) {
        const res = await request(method, key, `/v1/questions/${id}${query}`);
        expect(res.statusCode).toBe(404);
        const body = res.json<Record<string, unknown>>();
        const expected = missing.json<Record<string, unknown>>();
        // Same document but for the id it names and the request id.
        expect({ ...body, detail: '', instance: '', requestId: '' }).toEqual({
          ...expected,
          detail: '',
          instance: '',
          requestId: '',
        });
        expect(body.detail).toBe(`no question with id ${id}`);
      }
      // Nothing was cancelled by those attempts.
      for (const id of [idOfA, idOfB, foreignId]) {
        expect(await api.queue.getJobState(id)).not.toBe('unknown');
      }
    },
  );

  it('lets each key read its own question, and the admin key every question', async () => {
    expect((await request('GET', A, `/v1/questions/${idOfA}`)).statusCode).toBe(200);
    expect((await request('GET', B, `/v1/questions/${idOfB}`)).statusCode).toBe(200);
    for (const id of [idOfA, idOfB, foreignId]) {
      const res = await request('GET', ADMIN_API_KEY, `/v1/questions/${id}`);
      expect(res.statusCode).toBe(200);
      expect(res.json<{ id: string }>().id).toBe(id);
    }
  });

  it('gives API questions random UUIDs that share no sequential pattern', async () => {
    const res = await api.server.app.inject({
      method: 'POST',
      url: '/v1/questions/batch',
      headers: auth(A),
      payload: Array.from({ length: 20 }, (_, i) => ({ question: `q${i}` })),
    });
    const { ids } = res.json<{ ids: string[] }>();
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    expect(ids.every((id) => uuid.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    // No common prefix beyond chance and no order: sorted ids are not the request order.
    const prefixes = new Set(ids.map((id) => id.slice(0, 4)));
    expect(prefixes.size).toBeGreaterThan(15);
    expect([...ids].sort()).not.toEqual(ids);
  });

  it('cancels a waiting question of its own (202 removed); the admin key cancels any', async () => {
    const own = await request('DELETE', A, `/v1/questions/${idOfA}`);
    expect(own.statusCode).toBe(202);
    expect(own.json()).toEqual({ id: idOfA, state: 'prioritized', outcome: 'removed' });
    expect(await api.queue.getJob(idOfA)).toBeUndefined();
    expect((await request('GET', A, `/v1/questions/${idOfA}`)).statusCode).toBe(404);

    const admin = await request('DELETE', ADMIN_API_KEY, `/v1/questions/${foreignId}`);
    expect(admin.statusCode).toBe(202);
    expect(admin.json()).toMatchObject({ state: 'waiting', outcome: 'removed' });
    expect(await api.queue.getJob(foreignId)).toBeUndefined();
  });

  it('AskqClient.cancel removes a waiting question of a Redis producer', async () => {
    const client = new AskqClient({
      redisUrl: api.config.REDIS_URL,
      prefix: api.config.ASKQ_PREFIX,
    });
    try {
      const { id } = await client.ask({ question: 'never mind' });
      expect(await client.cancel(id)).toEqual({ id, state: 'waiting', outcome: 'removed' });
      expect(await client.getStatus(id)).toBeUndefined();
      expect(await client.cancel(id)).toBeUndefined();
    } finally {
      await client.close();
    }
  });

  it('answers 409 to a cancel of a question that has already finished', async () => {
    // Fail it as a worker would: take jobs until it is B's, and fail each.
    const worker = new Worker(QUESTIONS_QUEUE, null, {
      connection: duplicateConnection(api.redis),
      prefix: api.config.ASKQ_PREFIX,
      autorun: false,
    });
    for (;;) {
      const job = (await worker.getNextJob('token')) as Job;
      await job.moveToFailed(new Error('boom'), 'token', false);
      if (job.id === idOfB) break;
    }
    await worker.close();
    const res = await request('DELETE', B, `/v1/questions/${idOfB}`);
    expect(res.statusCode).toBe(409);
    expect(res.json<{ detail: string }>().detail).toMatch(/already finished \(failed\)/);
  });

  it('accepts or generates X-Request-Id, returns it everywhere and records it on the job', async () => {
    const sent = await api.server.app.inject({
      method: 'POST',
      url: '/v1/questions',
      headers: { ...auth(A), 'x-request-id': 'backend-7f3a.42' },
      payload: { question: 'traced?' },
    });
    expect(sent.headers['x-request-id']).toBe('backend-7f3a.42');
    const job = await api.queue.getJob(sent.json<{ id: string }>().id);
    expect(job?.data.__origin).toMatchObject({ requestId: 'backend-7f3a.42' });

    const generated = await api.server.app.inject({ url: '/v1/questions/nope', headers: auth(A) });
    const id = generated.headers['x-request-id'];
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(generated.json()).toMatchObject({ status: 404, requestId: id });

    // A value unfit for logs is replaced, not trusted; a 401 carries an id too.
    const unfit = await api.server.app.inject({
      url: '/v1/questions/nope',
      headers: { 'x-request-id': 'a b\u0007c' },
    });
    expect(unfit.statusCode).toBe(401);
    expect(unfit.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(unfit.json()).toMatchObject({ requestId: unfit.headers['x-request-id'] });
  });
});

describe('HTTP API: quotas in questions, shared through Redis', () => {
  let api: TestApi;
  let second: TestApi;
  beforeAll(async () => {
    const env = { ASKQ_KEY_QUESTIONS_PER_MIN: '10', ASKQ_KEY_MAX_PENDING: '6' };
    api = await startTestApi(env);
    // A second API process on the same prefix: quotas are counted in Redis, not per process.
    second = await startTestApi({ ...env, ASKQ_PREFIX: api.config.ASKQ_PREFIX });
  });
  afterAll(async () => {
    await second.close();
    await api.close();
  });

  const batch = (server: TestApi, key: string, n: number) =>
    server.server.app.inject({
      method: 'POST',
      url: '/v1/questions/batch',
      headers: auth(key),
      payload: Array.from({ length: n }, (_, i) => ({ question: `q${i}` })),
    });

  it('refuses a batch over ASKQ_KEY_MAX_PENDING with 429 and enqueues nothing of it', async () => {
    expect((await batch(api, A, 4)).statusCode).toBe(202);
    const before = await api.jobFootprint();
    const over = await batch(second, A, 3);
    expect(over.statusCode).toBe(429);
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
    expect(over.json()).toMatchObject({ type: 'urn:askq:problem:quota-exceeded' });
    expect(over.json<{ detail: string }>().detail).toMatch(/ASKQ_KEY_MAX_PENDING is 6\b/);
    expect(await api.jobFootprint()).toEqual(before);
    // Another key has its own quota.
    expect((await batch(second, B, 3)).statusCode).toBe(202);
  });

  it('gives a cancelled question its place back', async () => {
    const two = await batch(api, A, 2); // 6 pending now
    expect(two.statusCode).toBe(202);
    const one = (key: string) =>
      api.server.app.inject({
        method: 'POST',
        url: '/v1/questions',
        headers: auth(key),
        payload: { question: 'one more?' },
      });
    expect((await one(A)).statusCode).toBe(429);
    const [first] = two.json<{ ids: string[] }>().ids;
    const cancelled = await api.server.app.inject({
      method: 'DELETE',
      url: `/v1/questions/${first}`,
      headers: auth(A),
    });
    expect(cancelled.statusCode).toBe(202);
    expect((await one(A)).statusCode).toBe(202);
  });

  it('refuses a batch over ASKQ_KEY_QUESTIONS_PER_MIN, naming the limit, with Retry-After', async () => {
    // B has sent 3 this minute and has 3 pending: 8 more would pass 10 a minute.
    const over = await batch(api, B, 8);
    expect(over.statusCode).toBe(429);
    expect(over.json<{ detail: string }>().detail).toMatch(/ASKQ_KEY_QUESTIONS_PER_MIN is 10\b/);
    const retryAfter = Number(over.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
  });
});
