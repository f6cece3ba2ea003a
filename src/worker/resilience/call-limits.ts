import { CancelledError, RateLimitedError, TransientError } from '../../shared/errors.ts';
import type { Redis } from '../../shared/redis.ts';
import { MINUTE } from '../../shared/time.ts';

// KEYS[1]: the next free request slot (ms, Redis clock); KEYS[2]: the token bucket hash.
// ARGV: ms between requests (0: no request limit), tokens per minute (0: none), the call's
// token cost, the longest wait allowed. Books the call's turn and returns { 1, wait } — or
// books nothing and returns { 0, wait } when the turn is further away than allowed.
// Requests are spaced evenly (a GCRA with no burst): no window of any length or alignment
// holds more than its share. Tokens come from a bucket holding one minute's worth; it may go
// negative, so later callers queue behind earlier ones. A call's request slot comes no earlier
// than its tokens, so two calls delayed by tokens still go one interval apart. Redis's clock,
// so workers on machines whose clocks differ share one timeline.
const RESERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local maxWait = tonumber(ARGV[4])
local at = now
local tokens = 0
local perMs = cap / 60000
if cap > 0 then
  local b = redis.call('HMGET', KEYS[2], 'tokens', 'ts')
  tokens = tonumber(b[1]) or cap
  tokens = math.min(cap, tokens + math.max(0, now - (tonumber(b[2]) or now)) * perMs)
  if tokens < cost then at = now + math.ceil((cost - tokens) / perMs) end
end
if interval > 0 then
  at = math.max(at, tonumber(redis.call('GET', KEYS[1]) or 0))
end
local wait = math.ceil(at - now)
if wait > maxWait then return { 0, wait } end
if interval > 0 then
  redis.call('SET', KEYS[1], tostring(at + interval), 'PX', math.ceil(at + interval - now) + 1000)
end
if cap > 0 then
  tokens = tokens - cost
  redis.call('HSET', KEYS[2], 'tokens', tostring(tokens), 'ts', now)
  redis.call('PEXPIRE', KEYS[2], math.ceil((cap - tokens) / perMs) + 1000)
end
return { 1, wait }
`;

// KEYS[1]: the token bucket; ARGV: tokens per minute, tokens given back (negative: charged).
const ADJUST = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cap = tonumber(ARGV[1])
local perMs = cap / 60000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]) or cap
tokens = math.min(cap, tokens + math.max(0, now - (tonumber(b[2]) or now)) * perMs)
tokens = math.min(cap, tokens + tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil((cap - tokens) / perMs) + 1000)
return 1
`;

/**
 * Turns are spaced this much wider than the limit asks. A call reaches the provider some ms
 * after its turn, and that delay varies (a busy event loop, GC, the network): with no slack, a
 * call delayed a little more than the one before it can cross into the provider's next window
 * while that window's share is still to come. 5 % leaves 50 ms a second of it.
 */
export const SPACING_HEADROOM = 1.05;

export interface CallLimitsOptions {
  redis: Redis;
  /** Keys live under `<prefix>:limits:`. */
  prefix: string;
  /** Requests per minute across every worker (ASKQ_LLM_RPM). @defaultValue unlimited */
  requestsPerMinute?: number;
  /** Tokens per minute across every worker (ASKQ_LLM_TPM). @defaultValue unlimited */
  tokensPerMinute?: number;
  /**
   * The longest a call waits for its turn. A turn further away is not booked: the call fails
   * with {@link RateLimitedError} (the queue pauses for the excess, the attempt is given back).
   */
  maxWaitMs: number;
}

/** A booked turn: the call may go; {@link settle} with what it used. */
export interface CallPermit {
  /** How long the call waited for its turn, in ms. */
  readonly waitedMs: number;
  /**
   * Corrects the pre-charged estimate with the call's real usage; `undefined` for a call that
   * failed: its output allowance is given back, its prompt estimate stays charged (the
   * provider may have read it). Only the first settlement counts. Never throws: bookkeeping
   * must not fail a paid call.
   */
  settle(usedTokens: number | undefined): Promise<void>;
}

/** What a call is expected to cost, before it is made. */
export interface CallCost {
  /** Estimated prompt tokens. */
  promptTokens: number;
  /** The call's output limit (max tokens). */
  maxOutputTokens: number;
}

/**
 * Requests and tokens per minute shared by every worker through Redis, taken at the model
 * call itself. {@link acquire} books the call's turn in one atomic script — requests spaced
 * `60000 / rpm` ms apart (5 % more, see {@link SPACING_HEADROOM}), tokens charged up front with an estimate (prompt + max output) —
 * and waits for it, as long as the job's signal allows; the permit then corrects the charge
 * with the reported usage. So N workers together stay under the limits whatever each does.
 */
export class CallLimits {
  readonly #redis: Redis;
  readonly #keys: [string, string];
  readonly #intervalMs: number;
  readonly #tokensPerMinute: number;
  readonly #maxWaitMs: number;

  constructor(options: CallLimitsOptions) {
    this.#redis = options.redis;
    this.#keys = [`${options.prefix}:limits:rpm`, `${options.prefix}:limits:tpm`];
    this.#intervalMs = options.requestsPerMinute
      ? (MINUTE / options.requestsPerMinute) * SPACING_HEADROOM
      : 0;
    this.#tokensPerMinute = options.tokensPerMinute ?? 0;
    this.#maxWaitMs = options.maxWaitMs;
  }

  /**
   * Books the call's turn and resolves when it has come. Rejects with
   * {@link RateLimitedError} when the turn is more than `maxWaitMs` away (nothing booked),
   * with {@link CancelledError} when `signal` aborts while the turn is booked or waited for
   * (the tokens are given back), and with {@link TransientError} when Redis refuses the script.
   */
  async acquire(cost: CallCost, signal?: AbortSignal): Promise<CallPermit> {
    signal?.throwIfAborted();
    // A call larger than a whole minute's tokens is charged one minute's: it waits for a full
    // bucket rather than forever.
    const charged = Math.min(this.#tokensPerMinute, cost.promptTokens + cost.maxOutputTokens);
    let reply: [number, number];
    try {
      reply = await this.#book(charged, signal);
    } catch (err) {
      if (signal?.aborted) {
        throw new CancelledError('model call cancelled while booking its turn', { cause: err });
      }
      throw new TransientError('rate limiter unavailable (Redis)', { cause: err });
    }
    const [booked, waitMs] = reply;
    if (!booked) {
      throw new RateLimitedError(
        `model calls are booked ${waitMs} ms ahead (ASKQ_LLM_RPM / ASKQ_LLM_TPM), more than the ${this.#maxWaitMs} ms a call may wait`,
        { retryAfterMs: waitMs - this.#maxWaitMs },
      );
    }
    // Aborted while booking: the sleep rejects at once and the tokens go back.
    if (waitMs > 0 || signal?.aborted) {
      try {
        await sleep(waitMs, signal);
      } catch (err) {
        await this.#adjust(charged);
        throw new CancelledError('model call cancelled while waiting for its turn', {
          cause: err,
        });
      }
    }
    let settled = false;
    return {
      waitedMs: waitMs,
      settle: async (used) => {
        if (settled) return;
        settled = true;
        await this.#adjust(charged - (used ?? cost.promptTokens));
      },
    };
  }

  /**
   * Runs the booking script. A worker's connection retries forever while Redis is unreachable,
   * so the script may answer only once Redis is back, long after the job was cancelled: when
   * `signal` aborts with Redis not connected, this rejects at once, and what the script books
   * later is given back (its tokens; the request turn stays taken). With Redis connected, its
   * answer is moments away and {@link acquire} gives the tokens back itself.
   */
  #book(charged: number, signal: AbortSignal | undefined): Promise<[number, number]> {
    const booking = this.#redis.eval(
      RESERVE,
      2,
      ...this.#keys,
      this.#intervalMs,
      this.#tokensPerMinute,
      charged,
      this.#maxWaitMs,
    ) as Promise<[number, number]>;
    if (!signal) return booking;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        if (this.#redis.status === 'ready') return;
        reject(signal.reason);
        booking.then(
          ([booked]) => (booked ? this.#adjust(charged) : undefined),
          () => {},
        );
      };
      signal.addEventListener('abort', onAbort, { once: true });
      booking.then(
        (reply) => {
          signal.removeEventListener('abort', onAbort);
          resolve(reply);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      );
    });
  }

  async #adjust(tokens: number): Promise<void> {
    if (!this.#tokensPerMinute || tokens === 0) return;
    await this.#redis.eval(ADJUST, 1, this.#keys[1], this.#tokensPerMinute, tokens).catch(() => {});
  }
}

/**
 * Resolves after `ms` (never earlier: libuv may fire a timer a little early, so it is re-armed
 * for what is left), or rejects with the signal's reason when it aborts.
 */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const until = performance.now() + ms;
    const fire = () => {
      const left = until - performance.now();
      if (left > 0) {
        timer = setTimeout(fire, Math.ceil(left));
        return;
      }
      signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    let timer = setTimeout(fire, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Tokens a text is likely to cost before the provider counts it: a quarter token per ASCII
 * character (English runs about four characters a token) and one per other character (CJK
 * runs about one). An estimate to charge up front; the real usage corrects it.
 */
export function estimateTokens(text: string): number {
  let ascii = 0;
  let other = 0;
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code < 0x80) ascii += 1;
    // A surrogate pair is one character: count its high half only.
    else if (code < 0xdc00 || code > 0xdfff) other += 1;
  }
  return Math.ceil(ascii / 4) + other;
}
