/**
 * The error taxonomy: every failure is permanent, transient, rate limited or breaker open.
 * Provider-specific errors are classified into these by the worker's classifier; the mapping
 * to BullMQ lives in one place in the worker.
 */

export type FailureClass = 'permanent' | 'transient' | 'rate_limited' | 'breaker_open';

/** Base of askq's own errors; keeps `cause`. */
export class AskqError extends Error {
  override name = 'AskqError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Retrying cannot help: invalid input, a 4xx from a provider, `insufficient_quota`. */
export class PermanentError extends AskqError {
  override name = 'PermanentError';
  /**
   * True when the provider refused the request itself (a 4xx, a bad key, no quota, an unknown
   * model, a context or content refusal): a misconfiguration or bad input that no fallback
   * may hide. False for a provider that failed in a way retrying cannot fix.
   */
  readonly requestFault: boolean;
  constructor(message: string, options: { cause?: unknown; requestFault?: boolean } = {}) {
    super(message, options);
    this.requestFault = options.requestFault ?? false;
  }
}

/** May succeed if tried again later: 5xx, network errors, per-call timeouts. */
export class TransientError extends AskqError {
  override name = 'TransientError';
}

/** The provider asked us to slow down; `retryAfterMs` is how long, when it said. */
export class RateLimitedError extends AskqError {
  override name = 'RateLimitedError';
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options: { cause?: unknown; retryAfterMs?: number } = {}) {
    super(message, options);
    this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * A dependency's breaker is open; no call was made. `retryAfterMs` is its remaining reset
 * time; `outageMs` how long the breaker has not been closed (half-open trials that failed
 * included): how long the dependency has been out, as this process saw it.
 */
export class BreakerOpenError extends AskqError {
  override name = 'BreakerOpenError';
  readonly dependency: string;
  readonly retryAfterMs: number;
  readonly outageMs: number;
  constructor(dependency: string, retryAfterMs: number, outageMs = 0) {
    super(`${dependency} breaker is open; retry in ${retryAfterMs} ms`);
    this.dependency = dependency;
    this.retryAfterMs = retryAfterMs;
    this.outageMs = outageMs;
  }
}

/**
 * The job's own signal was aborted (the worker is shutting down or the job was cancelled): not
 * the dependency's fault nor the job's, so it neither counts against a breaker nor uses an
 * attempt.
 */
export class CancelledError extends AskqError {
  override name = 'CancelledError';
}

/** Invalid job data or input: a permanent error with the reason. */
export class ValidationError extends PermanentError {
  override name = 'ValidationError';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, requestFault: true });
  }
}

/** The class of an askq error, or undefined for an unclassified one. */
export function failureClassOf(err: unknown): FailureClass | undefined {
  if (err instanceof BreakerOpenError) return 'breaker_open';
  if (err instanceof RateLimitedError) return 'rate_limited';
  if (err instanceof PermanentError) return 'permanent';
  if (err instanceof TransientError) return 'transient';
  return undefined;
}

/** Turns anything thrown into an Error, keeping the original as `cause`. */
export function coerceError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  if (typeof thrown === 'string') return new AskqError(thrown);
  let text: string;
  try {
    text = JSON.stringify(thrown);
  } catch {
    text = String(thrown);
  }
  return new AskqError(`non-error thrown: ${text}`, { cause: thrown });
}

/** Redis did not answer; producers fail fast with this instead of queueing commands offline. */
export class RedisUnavailableError extends TransientError {
  override name = 'RedisUnavailableError';
}

// The second line: a cluster or Sentinel between a master's death and its replacement.
const REDIS_DOWN = new RegExp(
  [
    "enableOfflineQueue|Connection is closed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|Stream isn't writeable|connect ETIMEDOUT|max retries per request",
    'CLUSTERDOWN|TRYAGAIN|MASTERDOWN|Too many Cluster redirections|Failed to refresh slots cache|None of startup nodes is available|All sentinels are unreachable',
  ].join('|'),
  'i',
);

/** True when `err` says the Redis connection is down (rather than a command failing). */
export function isRedisConnectionError(err: unknown): boolean {
  return err instanceof Error && REDIS_DOWN.test(err.message);
}

/**
 * Redis is past askq's high-water mark (or out of memory): new work is refused so jobs already
 * queued can still complete. Retry after `retryAfterMs`; nothing was enqueued.
 */
export class QueueFullError extends TransientError {
  override name = 'QueueFullError';
  readonly retryAfterMs: number;
  /** Redis memory when it refused (bytes), when a reading was at hand; for operators only. */
  readonly memory: RedisMemory | undefined;
  constructor(
    message: string,
    options: { cause?: unknown; retryAfterMs: number; memory?: RedisMemory },
  ) {
    super(message, options);
    this.retryAfterMs = options.retryAfterMs;
    this.memory = options.memory;
  }
}

/** Redis memory against the high-water mark, in bytes (0 for an unset `maxmemory`). */
export interface RedisMemory {
  usedBytes: number;
  highWaterBytes: number;
  maxBytes: number;
}

/** True when Redis refused a write because it reached `maxmemory` (policy `noeviction`). */
export function isRedisOomError(err: unknown): boolean {
  return err instanceof Error && /^OOM command not allowed/.test(err.message);
}
