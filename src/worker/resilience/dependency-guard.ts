import CircuitBreaker from 'opossum';

import {
  AskqError,
  BreakerOpenError,
  CancelledError,
  PermanentError,
  RateLimitedError,
  TransientError,
} from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { SECOND } from '../../shared/time.ts';
import { classifyProviderError } from '../providers/classify-provider-error.ts';

/** The dependencies a worker guards, one breaker each. */
export type Dependency = 'chat' | 'embeddings' | 'vectorStore';

export type BreakerState = 'closed' | 'open' | 'halfOpen';

export interface DependencyGuardOptions {
  /** Timeout of one call, response body included. @defaultValue 30000 */
  callTimeoutMs?: number;
  /** Failure percentage in the rolling window that opens the breaker. @defaultValue 50 */
  errorThresholdPercentage?: number;
  /** Calls in the window before the breaker may open. @defaultValue 5 */
  volumeThreshold?: number;
  /** Time open before one half-open trial. @defaultValue 30000 */
  resetTimeoutMs?: number;
  /** Length of the rolling statistics window. @defaultValue 10000 */
  rollingCountTimeoutMs?: number;
  logger?: Logger;
  /** Called on every state change (metrics, span events). Errors thrown here are ignored. */
  onStateChange?: (dependency: Dependency, state: BreakerState) => void;
}

export const DEPENDENCY_GUARD_DEFAULTS = {
  callTimeoutMs: 30 * SECOND,
  errorThresholdPercentage: 50,
  volumeThreshold: 5,
  resetTimeoutMs: 30 * SECOND,
  rollingCountTimeoutMs: 10 * SECOND,
} satisfies Partial<DependencyGuardOptions>;

type Thunk = () => Promise<unknown>;

/**
 * One dependency's breaker, per-call timeout and error classification. Every call gets its own
 * `AbortSignal.timeout` (opossum's own timeout and abortController are breaker-wide, so one
 * slow call would abort every call in flight); errors come out classified. Permanent and
 * rate-limit errors do not count against the breaker: they say nothing about its health.
 */
export class DependencyGuard {
  readonly dependency: Dependency;
  readonly callTimeoutMs: number;
  private readonly breaker: CircuitBreaker<[Thunk], unknown>;
  private readonly resetTimeoutMs: number;
  private openedAt = 0;
  /** A provider's `retry-after`: no call leaves this process before it has passed. */
  private pausedUntil = 0;

  constructor(dependency: Dependency, options: DependencyGuardOptions = {}) {
    const opts = { ...DEPENDENCY_GUARD_DEFAULTS, ...options };
    this.dependency = dependency;
    this.callTimeoutMs = opts.callTimeoutMs;
    this.resetTimeoutMs = opts.resetTimeoutMs;
    this.breaker = new CircuitBreaker((thunk: Thunk) => thunk(), {
      name: dependency,
      timeout: false,
      errorThresholdPercentage: opts.errorThresholdPercentage,
      volumeThreshold: opts.volumeThreshold,
      resetTimeout: opts.resetTimeoutMs,
      rollingCountTimeout: opts.rollingCountTimeoutMs,
      errorFilter: (err: unknown) =>
        err instanceof PermanentError ||
        err instanceof RateLimitedError ||
        err instanceof CancelledError,
    });
    const changed = (state: BreakerState) => {
      if (state === 'open') this.openedAt = Date.now();
      const log = state === 'open' ? 'warn' : 'info';
      opts.logger?.[log]({ dependency, breaker: state }, `${dependency} breaker ${state}`);
      try {
        opts.onStateChange?.(dependency, state);
      } catch {
        // A metrics hook must never break a call.
      }
    };
    this.breaker.on('open', () => changed('open'));
    this.breaker.on('halfOpen', () => changed('halfOpen'));
    this.breaker.on('close', () => changed('closed'));
  }

  get state(): BreakerState {
    if (this.breaker.opened) return 'open';
    if (this.breaker.halfOpen) return 'halfOpen';
    return 'closed';
  }

  /** Time until an open breaker lets a trial through; 0 when closed. */
  remainingOpenMs(): number {
    if (this.state === 'closed') return 0;
    return Math.max(0, this.resetTimeoutMs - (Date.now() - this.openedAt));
  }

  /**
   * Runs `fn` through the breaker with a fresh timeout signal (joined with `outer`, the job's
   * own signal). Rejects with a classified {@link AskqError}.
   */
  async call<T>(fn: (signal: AbortSignal) => Promise<T>, outer?: AbortSignal): Promise<T> {
    const wait = this.pausedUntil - Date.now();
    if (wait > 0) {
      throw new RateLimitedError(`${this.dependency} is rate limited for another ${wait} ms`, {
        retryAfterMs: wait,
      });
    }
    // One controller and one timer per call, aborted by the timeout or the job's own signal:
    // cheaper on the hot path than AbortSignal.timeout + AbortSignal.any, same behaviour.
    const controller = new AbortController();
    const signal = controller.signal;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new DOMException('per-call timeout', 'TimeoutError'));
    }, this.callTimeoutMs);
    const onOuterAbort = () => controller.abort(outer?.reason);
    if (outer?.aborted) onOuterAbort();
    else outer?.addEventListener('abort', onOuterAbort, { once: true });
    const attempt = async (): Promise<T> => {
      try {
        // An already-aborted signal: never start the call (its rejection would go unhandled).
        signal.throwIfAborted();
        return await settleOnAbort(fn(signal), signal);
      } catch (err) {
        if (outer?.aborted)
          throw new CancelledError(`${this.dependency} call cancelled`, { cause: err });
        if (timedOut) {
          throw new TransientError(
            `${this.dependency} call timed out after ${this.callTimeoutMs} ms`,
            { cause: err },
          );
        }
        const classified = classifyProviderError(err, this.dependency);
        if (classified instanceof RateLimitedError && classified.retryAfterMs !== undefined) {
          this.pausedUntil = Math.max(this.pausedUntil, Date.now() + classified.retryAfterMs);
        }
        throw classified;
      }
    };
    try {
      return (await this.breaker.fire(attempt)) as T;
    } catch (err) {
      if (err instanceof AskqError) throw err;
      if ((err as { code?: string }).code === 'EOPENBREAKER') {
        // Half-open with its one trial in flight reports 0 ms left: wait a little anyway.
        throw new BreakerOpenError(this.dependency, this.remainingOpenMs() || 1 * SECOND);
      }
      throw classifyProviderError(err, this.dependency);
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuterAbort);
    }
  }

  /** Stops the breaker's timers. */
  shutdown(): void {
    this.breaker.shutdown();
  }
}

/** Settles as soon as `signal` aborts, even when a provider ignores the signal. */
function settleOnAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  // The provider's promise may still reject after the abort won the race: handled, not a crash.
  promise.catch(() => {});
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
