import CircuitBreaker from 'opossum';

import { classifyProviderError } from '../../shared/classify-provider-error.ts';
import {
  AskqError,
  BreakerOpenError,
  CancelledError,
  PermanentError,
  RateLimitedError,
} from '../../shared/errors.ts';
import { SECOND } from '../../shared/time.ts';
import type { Policy } from './policy.ts';

export type BreakerState = 'closed' | 'open' | 'halfOpen';

export interface BreakerOptions {
  /** Failure percentage in the rolling window that opens the breaker. */
  errorThresholdPercentage: number;
  /** Calls in the window before the breaker may open. */
  volumeThreshold: number;
  /** Time open before one half-open trial. */
  resetTimeoutMs: number;
  /** Length of the rolling statistics window. */
  rollingCountTimeoutMs: number;
  /** Called on every state change; errors thrown here are ignored. */
  onStateChange?: (state: BreakerState) => void;
}

/**
 * One dependency's opossum breaker. Calls that failed with a permanent error, a rate limit or
 * a cancellation do not count against it (its error filter): they say nothing about the
 * dependency's health. While open it rejects at once with {@link BreakerOpenError} and the
 * time left. Expects classified errors (put it outside the classify policy).
 */
export class BreakerPolicy implements Policy {
  readonly #dependency: string;
  readonly #breaker: CircuitBreaker<[() => Promise<unknown>], unknown>;
  readonly #resetTimeoutMs: number;
  #openedAt = 0;
  /** When the breaker last left `closed`; undefined while closed. */
  #outageSince: number | undefined;

  constructor(dependency: string, options: BreakerOptions) {
    this.#dependency = dependency;
    this.#resetTimeoutMs = options.resetTimeoutMs;
    this.#breaker = new CircuitBreaker((thunk: () => Promise<unknown>) => thunk(), {
      name: dependency,
      timeout: false,
      errorThresholdPercentage: options.errorThresholdPercentage,
      volumeThreshold: options.volumeThreshold,
      resetTimeout: options.resetTimeoutMs,
      rollingCountTimeout: options.rollingCountTimeoutMs,
      // Nobody reads latency percentiles or listens for snapshots; left on, every bucket
      // interval (a second) each breaker concatenates and sorts every call's latency in its
      // window, a pause of the event loop that grows with the call rate.
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
      errorFilter: (err: unknown) =>
        err instanceof PermanentError ||
        err instanceof RateLimitedError ||
        err instanceof CancelledError,
    });
    const changed = (state: BreakerState) => {
      if (state === 'open') {
        this.#openedAt = Date.now();
        this.#outageSince ??= this.#openedAt;
      }
      if (state === 'closed') this.#outageSince = undefined;
      try {
        options.onStateChange?.(state);
      } catch {
        // A listener must never break a call.
      }
    };
    this.#breaker.on('open', () => changed('open'));
    this.#breaker.on('halfOpen', () => changed('halfOpen'));
    this.#breaker.on('close', () => changed('closed'));
  }

  get state(): BreakerState {
    if (this.#breaker.opened) return 'open';
    if (this.#breaker.halfOpen) return 'halfOpen';
    return 'closed';
  }

  /** Time until an open breaker lets a trial through; 0 when closed. */
  remainingOpenMs(): number {
    if (this.state === 'closed') return 0;
    return Math.max(0, this.#resetTimeoutMs - (Date.now() - this.#openedAt));
  }

  // Not async: opossum's promise, chained once, instead of an async function's on top.
  execute<T>(fn: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const callSignal = signal ?? new AbortController().signal;
    let fired: Promise<T>;
    try {
      fired = this.#breaker.fire(() => fn(callSignal)) as Promise<T>;
    } catch (err) {
      fired = Promise.reject(err as Error);
    }
    return fired.catch(this.#rejected);
  }

  /** opossum's rejection as askq's: an open breaker's, or a classified error. */
  readonly #rejected = (err: unknown): never => {
    if ((err as { code?: string }).code === 'EOPENBREAKER') {
      // Half-open with its one trial in flight reports 0 ms left: wait a little anyway.
      throw new BreakerOpenError(
        this.#dependency,
        this.remainingOpenMs() || 1 * SECOND,
        this.#outageSince === undefined ? 0 : Date.now() - this.#outageSince,
      );
    }
    // opossum's own errors (a shutdown breaker) are classified like a provider's.
    throw err instanceof AskqError ? err : classifyProviderError(err, this.#dependency);
  };

  /** Stops the breaker's timers. */
  shutdown(): void {
    this.#breaker.shutdown();
  }
}
