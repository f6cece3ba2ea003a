/**
 * A resilience policy: runs `fn` with a signal that covers the call, adding one concern
 * (a timeout, a breaker, a provider's pause). Policies compose with {@link wrap}.
 */
export interface Policy {
  execute<T>(fn: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T>;
}

/**
 * Composes policies, the first outermost: `wrap(pause, breaker, timeout).execute(fn)` checks
 * the pause, then the breaker, then runs `fn` under its timeout. Each layer hands the signal
 * it was given to the next.
 */
export function wrap(...policies: Policy[]): Policy {
  return {
    execute<T>(fn: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
      const run = policies.reduceRight<(s?: AbortSignal) => Promise<T>>(
        (inner, policy) => (s) => policy.execute((next) => inner(next), s),
        (s) => fn(s ?? new AbortController().signal),
      );
      return run(signal);
    },
  };
}
