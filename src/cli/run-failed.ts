import { Queue } from 'bullmq';

import { listDeadLetters, retryDeadLetters } from '../producer/dead-letters.ts';
import type { Config } from '../shared/config.ts';
import { QUESTIONS_QUEUE } from '../shared/contracts.ts';
import { eventStreamOptions } from '../shared/queue-options.ts';
import { createRedisConnection } from '../shared/redis.ts';
import { redisSettingsFrom } from '../shared/redis-settings.ts';

async function withQueue<T>(config: Config, fn: (queue: Queue) => Promise<T>): Promise<T> {
  const connection = createRedisConnection(redisSettingsFrom(config), 'producer');
  const queue = new Queue(QUESTIONS_QUEUE, {
    connection,
    prefix: config.ASKQ_PREFIX,
    ...eventStreamOptions(config.ASKQ_EVENTS_MAX_LEN),
  });
  queue.on('error', () => {});
  try {
    return await fn(queue);
  } finally {
    await queue.close();
    await connection.quit().catch(() => connection.disconnect());
  }
}

/** `askq failed list`: failed questions with reason, attempts and error class. */
export async function runFailedList(
  config: Config,
  options: { limit: number; json?: boolean },
): Promise<number> {
  const letters = await withQueue(config, (q) => listDeadLetters(q, options.limit));
  if (options.json) {
    process.stdout.write(`${JSON.stringify(letters, null, 2)}\n`);
    return 0;
  }
  if (letters.length === 0) {
    process.stdout.write('no failed questions\n');
    return 0;
  }
  for (const l of letters) {
    const when = l.failedAt ? new Date(l.failedAt).toISOString() : '-';
    process.stdout.write(
      `${l.id}  ${when}  ${l.errorClass ?? '-'}  attempts ${l.attempts}\n  ${l.question}\n  ${l.reason}\n`,
    );
  }
  return 0;
}

/** `askq failed retry [--all | <id…>]`: moves failed questions back to waiting, budgets reset. */
export async function runFailedRetry(
  config: Config,
  ids: string[],
  options: { all?: boolean },
): Promise<number> {
  const outcome = await withQueue(config, (q) => retryDeadLetters(q, options.all ? 'all' : ids));
  process.stdout.write(`retried ${outcome.retried.length} question(s)\n`);
  for (const s of outcome.skipped) process.stderr.write(`skipped ${s.id}: ${s.reason}\n`);
  return outcome.skipped.length > 0 ? 1 : 0;
}
