import { RateLimitedError } from '../../shared/errors.ts';
import type { Redis } from '../../shared/redis.ts';
import { MINUTE } from '../../shared/time.ts';

// KEYS[1] bucket hash; ARGV: capacity, refill per ms, now, tokens to take.
// Refills by elapsed time, takes (may go negative: usage is only known after a call), and
// returns the balance; shared by every worker through Redis.
const TAKE = `
local cap = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local take = tonumber(ARGV[4])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]) or cap
local ts = tonumber(b[2]) or now
tokens = math.min(cap, tokens + math.max(0, now - ts) * rate) - take
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], 120000)
return tostring(tokens)
`;

/**
 * A tokens-per-minute budget across all workers: a token bucket in Redis holding up to one
 * minute's tokens, fed by the usage each chat call reports. Before a call, an empty bucket
 * throws {@link RateLimitedError} with the time until it refills, which pauses the queue like
 * a provider's 429 would, but before the provider has to say it.
 */
export class TokenBudget {
  readonly #redis: Redis;
  readonly #key: string;
  readonly #capacity: number;
  readonly #perMs: number;

  constructor(options: { redis: Redis; prefix: string; tokensPerMinute: number }) {
    this.#redis = options.redis;
    this.#key = `${options.prefix}:limits:tpm`;
    this.#capacity = options.tokensPerMinute;
    this.#perMs = options.tokensPerMinute / MINUTE;
  }

  /** Throws RateLimitedError while the bucket is empty. */
  async check(): Promise<void> {
    const balance = await this.#take(0);
    if (balance <= 0) {
      const waitMs = Math.ceil((1 - balance) / this.#perMs);
      throw new RateLimitedError(`token budget spent; refills in ${waitMs} ms`, {
        retryAfterMs: waitMs,
      });
    }
  }

  /** Records tokens a call used. */
  async spend(tokens: number): Promise<void> {
    if (tokens > 0) await this.#take(tokens);
  }

  async #take(tokens: number): Promise<number> {
    const result = await this.#redis.eval(
      TAKE,
      1,
      this.#key,
      this.#capacity,
      this.#perMs,
      Date.now(),
      tokens,
    );
    return Number(result);
  }
}
