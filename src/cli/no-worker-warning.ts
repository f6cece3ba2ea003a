import { Queue } from 'bullmq';

import { eventStreamOptions } from '../shared/queue-options.ts';
import { createRedisConnection } from '../shared/redis.ts';
import type { RedisTarget } from '../shared/redis-settings.ts';
import { MINUTE, SECOND } from '../shared/time.ts';

export interface NoWorkerWarningOptions {
  /** Where Redis is: settings from `redisSettingsFrom`, or a URL. */
  redis: RedisTarget;
  prefix: string;
  /** The queue whose consumers are counted. */
  queueName: string;
  /** Receives the warning line. @defaultValue stderr */
  write?: (line: string) => void;
  /** First look, after the command had a moment to start. @defaultValue 5000 */
  firstCheckMs?: number;
  /** How often to look again while waiting. @defaultValue 5000 */
  checkEveryMs?: number;
  /** The line is said again at most this often. @defaultValue 60000 */
  repeatEveryMs?: number;
  /** Observes each look: the workers counted (undefined when Redis did not answer). @defaultValue none */
  onCheck?: (workers: number | undefined) => void;
}

export const NO_WORKER_WARNING_DEFAULTS = {
  firstCheckMs: 5 * SECOND,
  checkEveryMs: 5 * SECOND,
  repeatEveryMs: 1 * MINUTE,
} satisfies Partial<NoWorkerWarningOptions>;

/**
 * While a command waits on the queue without a worker of its own, says on stderr when no
 * worker is consuming the queue and how to start one, at most once a minute. Workers are found
 * by their Redis client names (BullMQ's `getWorkersCount`). Returns a function that stops it.
 */
export function warnWhileNoWorker(options: NoWorkerWarningOptions): () => Promise<void> {
  const opts = { ...NO_WORKER_WARNING_DEFAULTS, ...options };
  const write = opts.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const connection = createRedisConnection(opts.redis, 'producer');
  const queue = new Queue(opts.queueName, {
    connection,
    prefix: opts.prefix,
    ...eventStreamOptions(undefined),
  });
  queue.on('error', () => {});
  let lastWarnedAt = -Infinity;
  let stopped = false;
  const check = async () => {
    const workers = await queue.getWorkersCount().catch(() => undefined);
    if (stopped) return;
    if (workers === 0 && Date.now() - lastWarnedAt >= opts.repeatEveryMs) {
      lastWarnedAt = Date.now();
      warn();
    }
    opts.onCheck?.(workers);
  };
  const warn = () =>
    write(
      `askq: no worker is consuming the "${opts.queueName}" queue (prefix ${opts.prefix}); still waiting. ` +
        'Start one with `askq worker`, or run this command with --with-worker.',
    );
  let timer: NodeJS.Timeout | undefined = setTimeout(function tick() {
    void check().finally(() => {
      if (!stopped) timer = setTimeout(tick, opts.checkEveryMs);
    });
  }, opts.firstCheckMs);
  return async () => {
    stopped = true;
    clearTimeout(timer);
    timer = undefined;
    await queue.close().catch(() => {});
    connection.disconnect();
  };
}
