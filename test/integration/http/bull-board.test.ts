import { once } from 'node:events';

import { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { QUESTIONS_QUEUE } from '../../../src/shared/contracts.ts';
import { createRedisConnection } from '../../../src/shared/redis.ts';
import { startTestApi, type TestApi } from '../../support/api-server.ts';

const USER = 'operator';
const PASSWORD = 'board-password-canary-77';
const basic = (user: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});
const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';

describe('Bull Board at /admin/queues', () => {
  let api: TestApi;
  let readOnly: TestApi;
  let completedId: string;
  let secretJobId: string;

  beforeAll(async () => {
    api = await startTestApi({
      ASKQ_BOARD_USER: USER,
      ASKQ_BOARD_PASSWORD: PASSWORD,
      ASKQ_JAEGER_URL: 'http://jaeger.local:16686/',
    });
    readOnly = await startTestApi({
      ASKQ_PREFIX: api.config.ASKQ_PREFIX,
      ASKQ_BOARD_USER: USER,
      ASKQ_BOARD_PASSWORD: PASSWORD,
      ASKQ_BOARD_READ_ONLY: 'true',
    });
    // A foreign producer's job carrying secrets, and one completed job with a trace id.
    const secretJob = await api.queue.add('answer', {
      question: 'q',
      metadata: { apiToken: 'tok-canary-123', note: 'see redis://user:pw-canary@db:6379' },
    });
    secretJobId = secretJob.id!;
    const connection = createRedisConnection(api.config.REDIS_URL, 'worker');
    const worker = new Worker(
      QUESTIONS_QUEUE,
      async (job) => (job.id === secretJobId ? { answer: 'a', traceId: TRACE_ID } : {}),
      { connection, prefix: api.config.ASKQ_PREFIX },
    );
    const [done] = (await once(worker, 'completed')) as [{ id: string }];
    completedId = done.id;
    await worker.close();
    connection.disconnect();
  });
  afterAll(async () => {
    await readOnly.close();
    await api.close();
  });

  it('is closed without credentials or with wrong ones (401 with a Basic challenge)', async () => {
    for (const headers of [
      {},
      basic(USER, 'wrong'),
      basic('someone', PASSWORD),
      { authorization: 'Basic !!!' },
    ]) {
      for (const url of [
        '/admin/queues',
        '/admin/queues/api/queues',
        '/admin/queues/static/favicon-32x32.png',
      ]) {
        const res = await api.server.app.inject({ url, headers });
        expect(res.statusCode, url).toBe(401);
        expect(res.headers['www-authenticate']).toMatch(/^Basic realm=/);
        expect(res.body).not.toContain(PASSWORD);
      }
    }
  });

  it('opens with the credentials and lists every askq queue', async () => {
    const page = await api.server.app.inject({
      url: '/admin/queues',
      headers: basic(USER, PASSWORD),
    });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    const res = await api.server.app.inject({
      url: '/admin/queues/api/queues',
      headers: basic(USER, PASSWORD),
    });
    expect(res.statusCode).toBe(200);
    const { queues } = res.json<{ queues: { name: string; readOnlyMode: boolean }[] }>();
    expect(queues.map((q) => q.name).sort()).toEqual(['ingest', 'questions']);
    expect(queues.every((q) => !q.readOnlyMode)).toBe(true);
  });

  it('hides secrets in job data and links a job with a trace id to Jaeger', async () => {
    expect(completedId).toBe(secretJobId);
    const res = await api.server.app.inject({
      url: `/admin/queues/api/queues/questions/${secretJobId}`,
      headers: basic(USER, PASSWORD),
    });
    expect(res.statusCode).toBe(200);
    expect(res.body).not.toContain('tok-canary-123');
    expect(res.body).not.toContain('pw-canary');
    const { job } = res.json<{
      job: { data: { metadata: Record<string, string> }; externalUrl?: { href: string } };
    }>();
    expect(job.data.metadata.apiToken).toBe('[redacted]');
    expect(job.data.metadata.note).toBe('see redis://[redacted]@db:6379');
    expect(job.externalUrl?.href).toBe(`http://jaeger.local:16686/trace/${TRACE_ID}`);
  });

  it('read-only mode shows the queues but refuses changes', async () => {
    const list = await readOnly.server.app.inject({
      url: '/admin/queues/api/queues',
      headers: basic(USER, PASSWORD),
    });
    const { queues } = list.json<{ queues: { name: string; readOnlyMode: boolean }[] }>();
    expect(queues.every((q) => q.readOnlyMode)).toBe(true);
    const removed = await readOnly.server.app.inject({
      method: 'PUT',
      url: `/admin/queues/api/queues/questions/${secretJobId}/clean`,
      // From the board's own page, so it is read-only mode that refuses.
      headers: { ...basic(USER, PASSWORD), 'sec-fetch-site': 'same-origin' },
    });
    expect(removed.statusCode).toBeGreaterThanOrEqual(400);
    expect(removed.statusCode).not.toBe(403);
    expect(removed.statusCode).toBeLessThan(500);
    expect(await api.queue.getJob(secretJobId)).toBeDefined();
  });

  it('is not mounted without ASKQ_BOARD_USER and ASKQ_BOARD_PASSWORD', async () => {
    const bare = await startTestApi();
    try {
      const res = await bare.server.app.inject({
        url: '/admin/queues',
        headers: basic(USER, PASSWORD),
      });
      expect(res.statusCode).toBe(404);
    } finally {
      await bare.close();
    }
  });
});
