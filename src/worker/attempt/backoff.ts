import { SECOND } from '../../shared/time.ts';

/** How retry delays grow. */
export interface BackoffOptions {
  /** Delay before the second attempt. @defaultValue 1000 */
  baseMs?: number;
  /** Upper bound of one delay. @defaultValue 60000 */
  maxMs?: number;
}

export const BACKOFF_DEFAULTS = {
  baseMs: 1 * SECOND,
  maxMs: 60 * SECOND,
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
  const { baseMs, maxMs } = { ...BACKOFF_DEFAULTS, ...options };
  const exponent = Math.max(0, failedAttempt - 1);
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(exponent, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
