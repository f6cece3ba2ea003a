import { afterEach, describe, expect, it } from 'vitest';

import { AskqClient, PartialEnqueueError } from '../../src/producer/askq-client.ts';
import { RedisUnavailableError } from '../../src/shared/errors.ts';
import { type LocalRedis, startLocalRedis } from '../../src/shared/local-redis.ts';
import { AskqWorker, workerOptionsFromConfig } from '../../src/worker/askq-worker.ts';
import { capturingLogger } from '../support/capturing-logger.ts';
import { testConfig } from '../support/config.ts';
import { FakePorts } from '../support/fake-ports.ts';

/** Redis going away under a producer and a worker: a private redis-server with AOF. */
describe('Redis faults', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function redis(options: { port?: number; dir?: string } = {}): Promise<LocalRedis> {
    const r = await startLocalRedis({ appendonly: true, ...options });
    cleanups.push(() => r.stop());
    return r;
  }

  it('producers fail fast with a clear error while Redis is down', async () => {
    const r = await redis();
    const client = new AskqClient({ redisUrl: r.url, prefix: 'faults' });
    cleanups.push(() => client.close());
    await client.ask({ question: 'while up' });
    await r.stop();
    const started = Date.now();
    const err = await client.ask({ question: 'while down' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RedisUnavailableError);
    expect((err as Error).message).toMatch(/Redis is unavailable at redis:\/\/127\.0\.0\.1/);
    // Fail fast: no offline queue, no hanging until a timeout.
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('a worker and a producer resume by themselves after Redis restarts from its AOF', async () => {
    const first = await redis();
    const { port, dir } = first;
    const ports = new FakePorts();
    const config = testConfig({ REDIS_URL: first.url, ASKQ_PREFIX: 'faults' });
    const { logger, lines, next } = capturingLogger();
    const worker = await AskqWorker.start({ ...workerOptionsFromConfig(config), ports, logger });
    cleanups.push(() => worker.close(2000));
    await worker.waitUntilReady();
    const client = new AskqClient({ redisUrl: first.url, prefix: 'faults' });
    cleanups.push(() => client.close());
    const before = await client.ask({ question: 'before the crash' });
    await client.waitForAnswer(before.id, { timeoutMs: 10_000 });

    first.process.kill('SIGKILL');
    await new Promise((resolve) => first.process.once('exit', resolve));
    // Down long enough for the workers to notice (their reconnects are refused).
    await next(/^Redis unreachable/);
    const second = await startLocalRedis({ appendonly: true, port, dir });
    cleanups.unshift(() => second.stop()); // last: the worker and client close while it is up

    // The client's connection reconnects on its own; retry until it is back.
    let id: string | undefined;
    for (let i = 0; i < 50 && id === undefined; i += 1) {
      id = await client
        .ask({ question: 'after the restart' })
        .then((r) => r.id)
        .catch(async (e: unknown) => {
          if (!(e instanceof RedisUnavailableError)) throw e;
          await new Promise((r) => setTimeout(r, 100));
          return undefined;
        });
    }
    expect(id).toBeDefined();
    const result = await client.waitForAnswer(id!, { timeoutMs: 15_000 });
    expect(result.answer).toBeTruthy();
    // The job from before the crash survived in the AOF.
    expect((await client.getStatus(before.id))?.state).toBe('completed');
    // The outage is two lines in the worker's log, not one error per reconnect attempt.
    const said = (msg: RegExp) => lines.filter((l) => msg.test(l.msg));
    expect(said(/^worker error$/)).toEqual([]);
    expect(said(/^Redis unreachable/)).toHaveLength(1);
    expect(said(/^Redis reachable again$/)).toEqual([
      expect.objectContaining({ downMs: expect.any(Number), reconnectErrors: expect.any(Number) }),
    ]);
  });
});

describe('askMany across a Redis failure', () => {
  it('names the questions already enqueued when a later chunk fails', async () => {
    const r = await startLocalRedis();
    const client = new AskqClient({ redisUrl: r.url, prefix: 'partial', bulkChunkSize: 2 });
    try {
      await client.ask({ question: 'warm up the connection' });
      let chunks = 0;
      const addBulk = client.queue.addBulk.bind(client.queue);
      client.queue.addBulk = async (jobs) => {
        chunks += 1;
        if (chunks === 2) await r.stop(); // Redis goes away before the second chunk
        return addBulk(jobs);
      };
      const err = await client
        .askMany(Array.from({ length: 5 }, (_, i) => ({ question: `q${i}` })))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PartialEnqueueError);
      expect((err as PartialEnqueueError).ids).toHaveLength(2);
      expect((err as Error).message).toMatch(/enqueued 2 of 5 questions/);
    } finally {
      await client.close();
      await r.stop();
    }
  });
});
