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
  type Run = <T>(fn: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal) => Promise<T>;
  // Composed once, not per call: a call allocates one closure per layer, no chain of them.
  const run = policies.reduceRight<Run>(
    (inner, policy) => (fn, s) => policy.execute((next) => inner(fn, next), s),
    (fn, s) => fn(s ?? new AbortController().signal),
  );
  return { execute: run };
}
