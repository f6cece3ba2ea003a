import type { Redis } from '../redis.ts';

/**
 * How many questions of one owner (an API key's fingerprint) are not finished yet. The API adds
 * to it when it enqueues; the worker subtracts when a question completes or fails, the API when
 * it removes a waiting one. It can drift when jobs vanish another way (Bull Board's clean,
 * retention of a stuck job), so it never goes below zero and expires when nobody enqueues.
 */
export function pendingKey(prefix: string, owner: string): string {
  return `${prefix}:askq:pending:${owner}`;
}

/** Idle time after which an owner's pending count is forgotten (bounds any drift). */
export const PENDING_TTL_SECONDS = 7 * 86_400;

const RELEASE = `
local left = redis.call('DECRBY', KEYS[1], ARGV[1])
if left <= 0 then redis.call('DEL', KEYS[1]); return 0 end
return left`;

/** Subtracts `count` finished (or removed) questions from an owner's pending count. */
export async function releasePending(
  redis: Redis,
  prefix: string,
  owner: string,
  count = 1,
): Promise<void> {
  if (count <= 0) return;
  await redis.eval(RELEASE, 1, pendingKey(prefix, owner), count);
}
