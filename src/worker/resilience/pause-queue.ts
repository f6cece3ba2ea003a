import type { Queue } from 'bullmq';

import type { Redis } from '../../shared/redis.ts';

// What BullMQ's queue.rateLimit writes (the limiter key at MAX_SAFE_INTEGER for `ms`), but
// only ever lengthening a pause: a 1 s pause from one worker's 429 must not cut short the
// 30 s pause another worker set for an open breaker.
const EXTEND_PAUSE = `
local paused = tonumber(redis.call('GET', KEYS[1]) or 0) >= tonumber(ARGV[2])
if not paused or redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
end
return 1
`;

/**
 * Pauses every worker of `queue` for at least `ms`: BullMQ's queue-wide rate limit, which
 * workers check before taking each job (they must run with a `limiter`, see {@link NO_LIMIT}).
 */
export async function pauseQueue(redis: Redis, queue: Queue, ms: number): Promise<void> {
  await redis.eval(EXTEND_PAUSE, 1, queue.keys.limiter!, Math.ceil(ms), Number.MAX_SAFE_INTEGER);
}

/**
 * A limiter that never limits by itself. BullMQ reads the queue's rate-limit key only for
 * workers that have a limiter; without one, a pause set by another worker would be ignored.
 */
export const NO_LIMIT = { max: 1_000_000_000, duration: 1000 } as const;
