import type { Redis } from '../../shared/redis.ts';
import {
  PENDING_TTL_SECONDS,
  pendingKey,
  releasePending,
} from '../../shared/tenancy/pending-count.ts';
import { MINUTE, SECOND } from '../../shared/time.ts';
import { HttpProblem } from './problem.ts';

export interface KeyQuotaOptions {
  redis: Redis;
  prefix: string;
  /** Questions per owner per minute; 0 turns it off. */
  questionsPerMinute: number;
  /** Unfinished questions per owner; 0 turns it off. */
  maxPending: number;
}

/** A caller over its pending quota is told to come back after this; questions finish meanwhile. */
const PENDING_RETRY_AFTER_SECONDS = 5;

/**
 * Checks both quotas and, only when both allow the whole request, counts it: one script, so
 * concurrent API processes cannot both squeeze under a limit. Returns
 * `{0, pendingBefore}`, `{1, msUntilTheWindowEnds}` (per-minute quota) or `{2, 0}` (pending).
 */
const RESERVE = `
local n = tonumber(ARGV[1])
local perMin = tonumber(ARGV[2])
local maxPending = tonumber(ARGV[3])
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if perMin > 0 and used + n > perMin then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then ttl = tonumber(ARGV[4]) end
  return {1, ttl}
end
local pending = tonumber(redis.call('GET', KEYS[2]) or '0')
if maxPending > 0 and pending + n > maxPending then return {2, 0} end
if redis.call('INCRBY', KEYS[1], n) == n then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
redis.call('INCRBY', KEYS[2], n)
redis.call('EXPIRE', KEYS[2], ARGV[5])
return {0, pending}`;

/**
 * Per-key quotas counted in questions (`ASKQ_KEY_QUESTIONS_PER_MIN`, `ASKQ_KEY_MAX_PENDING`),
 * shared by every API process through Redis. The per-minute quota is a fixed window per owner.
 */
export class KeyQuota {
  private readonly opts: KeyQuotaOptions;

  constructor(options: KeyQuotaOptions) {
    this.opts = options;
  }

  /**
   * Counts `count` questions for `owner`, or throws a 429 problem naming the limit and counts
   * nothing. Resolves with the owner's pending questions before these (the fair-share input).
   */
  async reserve(owner: string, count: number): Promise<{ pendingBefore: number }> {
    const { redis, prefix, questionsPerMinute, maxPending } = this.opts;
    const [verdict, value] = (await redis.eval(
      RESERVE,
      2,
      `${prefix}:askq:quota-minute:${owner}`,
      pendingKey(prefix, owner),
      count,
      questionsPerMinute,
      maxPending,
      MINUTE,
      PENDING_TTL_SECONDS,
    )) as [number, number];
    if (verdict === 1) {
      const seconds = Math.max(1, Math.ceil(value / SECOND));
      throw new HttpProblem(
        429,
        'quota-exceeded',
        `ASKQ_KEY_QUESTIONS_PER_MIN is ${questionsPerMinute} questions per minute for this key; ` +
          `these ${count} would pass it; retry in ${seconds} s`,
        { headers: { 'Retry-After': String(seconds) } },
      );
    }
    if (verdict === 2) {
      throw new HttpProblem(
        429,
        'quota-exceeded',
        `ASKQ_KEY_MAX_PENDING is ${maxPending} unfinished questions for this key; ` +
          `these ${count} would pass it; retry once some have finished`,
        { headers: { 'Retry-After': String(PENDING_RETRY_AFTER_SECONDS) } },
      );
    }
    return { pendingBefore: value };
  }

  /** Gives back questions that were counted but not enqueued, or removed before they ran. */
  async release(owner: string, count: number): Promise<void> {
    await releasePending(this.opts.redis, this.opts.prefix, owner, count);
  }
}
