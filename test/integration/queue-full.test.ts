import { Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { Admission } from '../../src/producer/admission.ts';
import { AskqClient, PartialEnqueueError } from '../../src/producer/askq-client.ts';
import { AskqHttpClient } from '../../src/producer/askq-http-client.ts';
import { apiServerOptionsFromConfig } from '../../src/producer/http/api-server-options.ts';
import { type ApiServer, createApiServer } from '../../src/producer/http/create-api-server.ts';
import { loadConfig } from '../../src/shared/config.ts';
import { QUESTIONS_QUEUE } from '../../src/shared/contracts.ts';
import { QueueFullError } from '../../src/shared/errors.ts';
import { type LocalRedis, startLocalRedis } from '../../src/shared/local-redis.ts';
import { createRedisConnection, type Redis } from '../../src/shared/redis.ts';
import { capturingLogger } from '../support/capturing-logger.ts';
import { paddedQuestion, usedMemory } from '../support/full-redis.ts';
import { testConnection } from '../support/redis.ts';
import { runCli } from '../support/run-cli.ts';

const API_KEY = 'queue-full-key-0123456789abcdef';
const ADMIN_KEY = 'queue-full-admin-0123456789abcdef';
const USER = 'operator';
const PASSWORD = 'board-password-0123';

let redis: LocalRedis;
let admin: Redis;
let inspect: Queue;

beforeAll(async () => {
  redis = await startLocalRedis();
  admin = createRedisConnection(redis.url, 'worker');
  inspect = new Queue(QUESTIONS_QUEUE, { connection: admin, prefix: 'full' });
});
afterAll(async () => {
  await inspect.close();
  admin.disconnect();
  await redis.stop();
});
afterEach(async () => {
  await admin.config('SET', 'maxmemory', '0');
  await admin.flushall();
});

/** Puts Redis past a high-water mark of 85 % (it uses 90 % of its new maxmemory). */
async function fill(): Promise<void> {
  const used = await usedMemory(admin);
  await admin.config('SET', 'maxmemory', String(Math.floor(used / 0.9)));
}

// API questions carry a fair-share priority, so they wait in `prioritized`.
const jobs = () =>
  inspect.getJobCountByTypes('waiting', 'prioritized', 'active', 'completed', 'failed');

/** Resolves once `done()` holds, checking every 50 ms; fails after 5 s. */
async function until(done: () => Promise<boolean>): Promise<void> {
  for (const started = Date.now(); !(await done());) {
    if (Date.now() - started > 5000) throw new Error('condition not met within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('a full queue', () => {
  it('AskqClient refuses with QueueFullError and enqueues nothing; accepts again with room', async () => {
    const client = new AskqClient({ redisUrl: redis.url, prefix: 'full' });
    try {
      await fill();
      const err = await client.ask({ question: 'one' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QueueFullError);
      expect((err as QueueFullError).retryAfterMs).toBeGreaterThan(0);
      expect((err as Error).message).toMatch(/past its high-water mark of .* \(85 % of /);
      await expect(client.askMany([{ question: 'a' }, { question: 'b' }])).rejects.toBeInstanceOf(
        QueueFullError,
      );
      expect(await jobs()).toBe(0);
      await admin.config('SET', 'maxmemory', String(64 * 1024 * 1024));
      await expect(client.ask({ question: 'one' })).resolves.toHaveProperty('id');
    } finally {
      await client.close();
    }
  });

  it('a batch Redis refuses part-way (OOM past the check) is removed whole and logged', async () => {
    const { logger, lines } = capturingLogger();
    // A check that cannot see this Redis's limit (it reads another Redis, without maxmemory),
    // as when another producer fills Redis between two readings: Redis's own OOM stops the
    // flood, in the middle of a batch.
    const blind = testConnection('producer');
    const client = new AskqClient({
      redisUrl: redis.url,
      prefix: 'full',
      admission: new Admission(blind),
      logger,
    });
    try {
      await admin.config('SET', 'maxmemory', String((await usedMemory(admin)) + 1024 * 1024));
      let acknowledged = 0;
      let err: unknown;
      for (let batch = 0; err === undefined; batch++) {
        const items = Array.from({ length: 100 }, (_, i) => ({
          question: paddedQuestion(batch * 100 + i, 2000),
        }));
        await client.askMany(items).then(
          ({ ids }) => (acknowledged += ids.length),
          (e: unknown) => (err = e),
        );
      }
      expect(err).toBeInstanceOf(QueueFullError);
      expect((err as Error).message).toMatch(/out of memory/);
      expect(await jobs()).toBe(acknowledged);
      const rollback = lines.find((l) => /removed the questions it had enqueued/.test(l.msg));
      expect(rollback).toMatchObject({ questions: 100, removed: 100 });
    } finally {
      blind.disconnect();
      await client.close();
    }
  });

  describe('through the API', () => {
    let server: ApiServer;
    let url: string;
    let logs: ReturnType<typeof capturingLogger>;
    beforeAll(async () => {
      logs = capturingLogger();
      const config = loadConfig({
        REDIS_URL: redis.url,
        ASKQ_PREFIX: 'full',
        ASKQ_API_KEYS: API_KEY,
        ASKQ_ADMIN_KEYS: ADMIN_KEY,
        ASKQ_BOARD_USER: USER,
        ASKQ_BOARD_PASSWORD: PASSWORD,
      });
      server = await createApiServer({
        ...apiServerOptionsFromConfig(config),
        logger: logs.logger,
      });
      url = await server.listen(0);
    });
    afterAll(() => server.close());
    const readiness = async () =>
      (await (await fetch(`${url}/readyz`)).json()) as { status: string };

    it('warned once at start that Redis has no maxmemory', () => {
      const warnings = logs.lines.filter((l) => /no maxmemory/.test(l.msg));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.level).toBe(40);
    });

    it('answers 503 queue-full with Retry-After; readiness, metrics and the board say so', async () => {
      await fill();
      // The reading taken at start is reused for a moment; readiness shows when it is renewed.
      await until(async () => (await readiness()).status === 'refusing');
      const response = await fetch(`${url}/v1/questions/batch`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify([{ question: 'a' }, { question: 'b' }]),
      });
      expect(response.status).toBe(503);
      expect(response.headers.get('x-request-id')).toBeTruthy();
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
      const problem = (await response.json()) as { detail: string };
      // How full is for operators (logs, readiness, metrics), not for every caller.
      expect(problem.detail).not.toMatch(/MiB|\d+ %|bytes/);
      expect(problem).not.toHaveProperty('redisMemory');
      expect(problem).toMatchObject({
        requestId: response.headers.get('x-request-id'),
        type: 'urn:askq:problem:queue-full',
        title: 'Queue full',
        status: 503,
        detail: expect.stringMatching(
          /^the queue is full: Redis memory is past its high-water mark; .*retry in \d+ s$/,
        ),
      });
      expect(await jobs()).toBe(0);

      // An admin key (an operator) is told how full, in the detail and as numbers.
      const asAdmin = await fetch(`${url}/v1/questions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ question: 'a' }),
      });
      expect(asAdmin.status).toBe(503);
      const adminProblem = (await asAdmin.json()) as {
        detail: string;
        redisMemory: { usedBytes: number; highWaterBytes: number; maxBytes: number };
      };
      expect(adminProblem).toMatchObject({ type: 'urn:askq:problem:queue-full' });
      const { usedBytes, highWaterBytes, maxBytes } = adminProblem.redisMemory;
      expect(maxBytes).toBeGreaterThan(0);
      expect(highWaterBytes).toBe(Math.floor(maxBytes * 0.85));
      expect(usedBytes).toBeGreaterThanOrEqual(highWaterBytes);
      expect(adminProblem.detail).toContain(
        `(used ${usedBytes} bytes, high-water mark ${highWaterBytes} bytes, maxmemory ${maxBytes} bytes)`,
      );
      expect(await jobs()).toBe(0);

      const ready = await fetch(`${url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({
        status: 'refusing',
        redisMemory: { usedBytes: expect.any(Number), highWaterBytes: expect.any(Number) },
      });
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toMatch(/^askq_admission_refusing 1$/m);
      expect(metrics).toMatch(/^askq_redis_memory_high_water_bytes \d+$/m);
      const board = await fetch(`${url}/admin/queues/api/queues`, {
        headers: {
          authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`,
        },
      });
      const { queues } = (await board.json()) as {
        queues: { name: string; description?: string }[];
      };
      expect(queues.find((q) => q.name === QUESTIONS_QUEUE)?.description).toMatch(
        /^QUEUE FULL: new questions are refused\. Redis uses .* past its high-water mark/,
      );
      expect(logs.lines.some((l) => /^refusing new questions: /.test(l.msg))).toBe(true);

      const client = new AskqHttpClient({ baseUrl: url, apiKey: API_KEY });
      const err = await client.ask({ question: 'one' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QueueFullError);
      expect((err as QueueFullError).retryAfterMs).toBeGreaterThan(0);

      await admin.config('SET', 'maxmemory', String(64 * 1024 * 1024));
      const again = await fetch(`${url}/readyz`);
      expect(await again.json()).toMatchObject({ status: 'ready' });
      await expect(client.ask({ question: 'one' })).resolves.toHaveProperty('id');
    });

    it('AskqHttpClient.askMany names the batches the API took when a later one is refused', async () => {
      let requests = 0;
      const client = new AskqHttpClient({
        baseUrl: url,
        apiKey: API_KEY,
        batchSize: 2,
        // Redis fills up between the first batch and the second.
        fetch: async (input, init) => {
          if (requests++ === 1) {
            await fill();
            await until(async () => (await readiness()).status === 'refusing');
          }
          return fetch(input, init);
        },
      });
      const questions = ['a', 'b', 'c', 'd'].map((question) => ({ question }));
      const err = await client.askMany(questions).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PartialEnqueueError);
      expect((err as Error).cause).toBeInstanceOf(QueueFullError);
      const { ids } = err as PartialEnqueueError;
      expect(ids).toHaveLength(2);
      expect(
        new Set(await inspect.getRanges(['waiting', 'prioritized', 'active', 'completed'], 0, -1)),
      ).toEqual(new Set(ids));
    });
  });

  it('the CLI exits 3 with one line: askq ask and askq ingest', async () => {
    await fill();
    const env = { REDIS_URL: redis.url, ASKQ_PREFIX: 'full' };
    const ask = await runCli(['ask', 'what is a queue?'], env);
    expect(ask.code).toBe(3);
    expect(ask.stderr).toMatch(/^askq: the queue is full: .*; retry in \d+ s\n$/);
    const ingest = await runCli(['ingest', 'examples/corpus'], env);
    expect(ingest.code).toBe(3);
    expect(ingest.stderr).toMatch(/^askq: the queue is full: .*\n$/);
    expect(await jobs()).toBe(0);
  });
});
