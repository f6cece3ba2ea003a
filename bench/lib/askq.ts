import type { JobsOptions, Queue } from 'bullmq';
import { pino } from 'pino';

import { loadConfig } from '../../src/shared/config.ts';
import { ANSWER_JOB } from '../../src/shared/contracts.ts';
import { createLogger } from '../../src/shared/logger.ts';
import type { Ports } from '../../src/shared/ports.ts';
import { AskqWorker, workerOptionsFromConfig } from '../../src/worker/askq-worker.ts';

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
    // pino's own fast destination (as for stdout), typed by pino as a SonicBoom, not a stream.
    destination: pino.destination({
      dest: '/dev/null',
      sync: false,
    }) as unknown as NodeJS.WritableStream,
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
