import { DEFAULTS } from '../../shared/defaults.ts';

/** How retry delays grow. */
export interface BackoffOptions {
  /** Delay before the second attempt. @defaultValue 1000 */
  baseMs?: number;
  /** Upper bound of one delay. @defaultValue 60000 */
  maxMs?: number;
}

export const BACKOFF_DEFAULTS = {
  baseMs: DEFAULTS.backoffMs,
  maxMs: DEFAULTS.backoffMaxMs,
} satisfies Required<BackoffOptions>;

/**
 * The delay before the attempt after `failedAttempt` (1-based): exponential (`base · 2^(n-1)`,
 * capped at `maxMs`) with equal jitter, i.e. uniformly in [d/2, d]. Jitter spreads workers
 * that failed together; the lower half bound keeps a delay from collapsing to zero.
 */
export function computeBackoff(
  failedAttempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const ceiling = backoffCeiling(failedAttempt, options);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** The longest {@link computeBackoff} waits after `failedAttempt`: `base · 2^(n-1)`, capped. */
export function backoffCeiling(failedAttempt: number, options: BackoffOptions = {}): number {
  const { baseMs, maxMs } = { ...BACKOFF_DEFAULTS, ...options };
  const exponent = Math.max(0, failedAttempt - 1);
  return Math.min(maxMs, baseMs * 2 ** Math.min(exponent, 30));
}
