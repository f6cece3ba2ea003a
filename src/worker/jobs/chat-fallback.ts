import type { DegradedReason } from '../../shared/contracts.ts';
import { CancelledError, failureClassOf, PermanentError } from '../../shared/errors.ts';

/** What the chat fallback decision knows about the job when its chat call failed. */
export interface ChatFailureContext {
  /** The job's last attempt: a transient failure is not retried. */
  lastAttempt: boolean;
  /** Time left before the job's deadline; undefined without one. */
  deadlineLeftMs?: number;
  /** The longest the retry of a transient failure would wait. */
  retryDelayCeilingMs: number;
  /**
   * How long an open chat breaker or a chat rate limit has held this job up (or the breaker's
   * outage, if longer); 0 if never.
   */
  blockedMs: number;
  /** How long that may last before the job is answered degraded (ASKQ_CHAT_FALLBACK_AFTER_MS). */
  afterMs: number;
}

/**
 * Whether a failed chat call should be answered by the fallback instead, and why: when
 * retrying will not fix it in time. Never for a cancellation (the job is handed back) nor for
 * a refusal of the request itself (400, 401, insufficient quota, …): a degraded answer must
 * not hide a misconfiguration or bad input.
 *
 * - a provider-side permanent error → `chat_unavailable`;
 * - the deadline passes before the next try (a retry's backoff, a pause) → `chat_deadline`;
 * - an open breaker (or a rate limit) that has held the job up for `afterMs` →
 *   `chat_unavailable` (`chat_rate_limited`);
 * - a transient failure on the last attempt → `chat_unavailable`.
 */
export function chatFallbackReason(
  err: unknown,
  ctx: ChatFailureContext,
): DegradedReason | undefined {
  if (err instanceof CancelledError) return undefined;
  const kind = failureClassOf(err) ?? 'transient';
  if (kind === 'permanent') {
    return err instanceof PermanentError && err.requestFault ? undefined : 'chat_unavailable';
  }
  // How long until the next try: the retry's backoff, or the pause the breaker or limit asks.
  const wait =
    kind === 'transient'
      ? ctx.retryDelayCeilingMs
      : ((err as { retryAfterMs?: number }).retryAfterMs ?? 0);
  if (ctx.deadlineLeftMs !== undefined && ctx.deadlineLeftMs <= wait) return 'chat_deadline';
  if (kind === 'breaker_open') return ctx.blockedMs >= ctx.afterMs ? 'chat_unavailable' : undefined;
  if (kind === 'rate_limited')
    return ctx.blockedMs >= ctx.afterMs ? 'chat_rate_limited' : undefined;
  return ctx.lastAttempt ? 'chat_unavailable' : undefined;
}

/** Held up by the chat dependency itself (its breaker or a rate limit), not by a failure. */
export function isChatBlocked(err: unknown): boolean {
  const kind = failureClassOf(err);
  return kind === 'breaker_open' || kind === 'rate_limited';
}
