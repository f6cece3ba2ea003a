import { type JobsOptions, Queue } from 'bullmq';

import { loadConfig } from '../../src/shared/config.ts';
import { ANSWER_JOB, QUESTIONS_QUEUE } from '../../src/shared/contracts.ts';
import { createLogger, logDestination } from '../../src/shared/logger.ts';
import type { Ports } from '../../src/shared/ports.ts';
import { createRedisConnection, type Redis } from '../../src/shared/redis.ts';
import { AskqWorker, workerOptionsFromConfig } from '../../src/worker/askq-worker.ts';
import { questions } from './instant-ports.ts';

/**
 * An in-process AskqWorker as production runs it (config from env-style variables), logging
 * at `info` to /dev/null so the cost of its log lines stays in the measurement.
 */
export async function startBenchWorker(options: {
  env: Record<string, string>;
  ports?: Ports;
  concurrency?: number;
}): Promise<AskqWorker> {
  const config = loadConfig({ LOG_LEVEL: 'info', ...options.env });
  const logger = createLogger({
    level: config.LOG_LEVEL,
    name: 'askq-worker',
    // The destination askq's logger writes stdout through.
    destination: logDestination('/dev/null'),
  });
  const worker = await AskqWorker.start({
    ...workerOptionsFromConfig(config),
    logger,
    ...(options.ports ? { ports: options.ports } : {}),
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
  });
  await worker.waitUntilReady();
  return worker;
}

/**
 * Adds one `answer` job per question to a paused queue, 1,000 per addBulk, so a benchmark's
 * clock can start at `queue.resume()` with every job already waiting.
 */
export async function prefillPaused(
  queue: Queue,
  texts: string[],
  opts: JobsOptions,
): Promise<void> {
  await queue.pause();
  for (let i = 0; i < texts.length; i += 1000) {
    await queue.addBulk(
      texts.slice(i, i + 1000).map((question) => ({ name: ANSWER_JOB, data: { question }, opts })),
    );
  }
}

/** One level of a latency benchmark: its jobs waiting in a paused queue, a fresh worker. */
export interface PausedLevel {
  connection: Redis;
  queue: Queue;
  worker: AskqWorker;
  /** Stops the worker and removes the level's queue (also after a failed level). */
  close(): Promise<void>;
}

/**
 * `jobs` questions pre-added to a paused queue under `prefix` and a fresh worker on `ports`
 * at `concurrency`, so the level's clock can start at `queue.resume()`.
 */
export async function startPausedLevel(s: {
  redisUrl: string;
  prefix: string;
  jobs: number;
  ports: Ports;
  concurrency: number;
}): Promise<PausedLevel> {
  const connection = createRedisConnection(s.redisUrl, 'worker');
  const queue = new Queue(QUESTIONS_QUEUE, { connection, prefix: s.prefix });
  await prefillPaused(queue, questions(s.jobs), { removeOnComplete: { count: 10_000 } });
  const worker = await startBenchWorker({
    env: { REDIS_URL: s.redisUrl, ASKQ_PREFIX: s.prefix },
    ports: s.ports,
    concurrency: s.concurrency,
  });
  return {
    connection,
    queue,
    worker,
    async close() {
      await worker.close(10_000);
      await queue.obliterate({ force: true });
      await queue.close();
      connection.disconnect();
    },
  };
}
