import { DelayedError, type Job, UnrecoverableError, Worker } from 'bullmq';

import {
  AskqError,
  BreakerOpenError,
  CancelledError,
  coerceError,
  failureClassOf,
  RateLimitedError,
} from '../../shared/errors.ts';
import { type JobState, writeJobState } from '../../shared/job-state.ts';
import type { Logger } from '../../shared/logger.ts';
import { SECOND } from '../../shared/time.ts';
import { type BackoffOptions, computeBackoff } from './backoff.ts';

/** No queue pause is shorter than this, whatever a provider's Retry-After says. */
const MIN_PAUSE_MS = 100;

/** The worker's retry policy; it applies whatever options the job was added with. */
export interface RetryPolicy extends BackoffOptions {
  /** Attempts per job, the first included. */
  attempts: number;
  /** A job running longer than this across attempts fails. @defaultValue no deadline */
  deadlineMs?: number;
}

export interface SettleContext {
  job: Job;
  token: string | undefined;
  state: JobState;
  policy: RetryPolicy;
  logger: Logger;
  /** Pauses the whole queue (every worker) for `ms`: BullMQ's queue-level rate limit. */
  pauseQueue: (ms: number) => Promise<void>;
  /** Called once the outcome is decided (metrics, span events); must not throw. */
  onOutcome?: (outcome: SettleOutcome) => void;
}

export type SettleOutcome =
  | { action: 'failed'; failure: string; reason: string }
  | { action: 'retry'; failure: string; delayMs: number }
  | { action: 'paused'; failure: string; pauseMs: number };

/**
 * The one place the error taxonomy meets BullMQ, whatever options the job was added with:
 *
 * - permanent → `UnrecoverableError`: fails now, reason and class recorded;
 * - past the job's deadline → `UnrecoverableError` with the deadline and the last reason;
 * - rate limited or breaker open → the whole queue is rate limited for the provider's
 *   `retry-after` or the breaker's remaining reset time and `RateLimitError` is thrown: the job
 *   goes back to waiting without consuming an attempt (bounded by `maxStartedAttempts`), and
 *   every worker stops calling the dependency;
 * - transient → moved to delayed with askq's backoff and `DelayedError` thrown, counting the
 *   attempt in the job's own state, until `attempts` are spent; then unrecoverable.
 */
export async function settleFailure(thrown: unknown, ctx: SettleContext): Promise<never> {
  const err = coerceError(thrown);
  const kind = failureClassOf(err) ?? 'transient';
  const { state, policy, logger } = ctx;
  const reason = err instanceof AskqError || err.message ? err.message : err.name;
  const fail = async (failure: NonNullable<JobState['lastErrorClass']>, message: string) => {
    state.lastErrorClass = failure;
    await writeJobState(ctx.job, state).catch(() => {});
    logger.warn({ err, failure }, message);
    report(ctx, { action: 'failed', failure, reason: message });
    return new UnrecoverableError(message);
  };

  if (kind === 'permanent') throw await fail('permanent', reason);
  const ranMs = Date.now() - (state.firstStartedAt ?? Date.now());
  if (policy.deadlineMs !== undefined && ranMs >= policy.deadlineMs) {
    throw await fail(
      'deadline',
      `deadline of ${policy.deadlineMs} ms passed after ${state.attempt} attempts: ${reason}`,
    );
  }
  if (ctx.token === undefined) throw await fail(kind, reason);

  if (err instanceof CancelledError) {
    // The worker is shutting down (or the job was cancelled): give the attempt back and let
    // another worker take the job at once.
    state.attempt = Math.max(0, state.attempt - 1);
    await rescheduling(ctx, async () => {
      await writeJobState(ctx.job, state);
      await ctx.job.moveToDelayed(Date.now(), ctx.token!);
    });
    throw new DelayedError(`cancelled: ${reason}`);
  }

  if (err instanceof RateLimitedError || err instanceof BreakerOpenError) {
    // Without a provider's hint, pauses grow with each pause of this job, never below a floor:
    // a 429 with no (or a zero) Retry-After must not turn into a hot loop.
    state.pauses = (state.pauses ?? 0) + 1;
    const pauseMs = Math.max(
      MIN_PAUSE_MS,
      err.retryAfterMs ?? computeBackoff(state.pauses, { ...policy, baseMs: SECOND }),
    );
    // Not the job's fault: give the attempt back.
    state.attempt = Math.max(0, state.attempt - 1);
    state.lastErrorClass = kind;
    await rescheduling(ctx, async () => {
      await writeJobState(ctx.job, state);
      await ctx.pauseQueue(pauseMs);
    });
    logger.warn({ err, failure: kind, pauseMs }, `queue paused for ${pauseMs} ms: ${reason}`);
    report(ctx, { action: 'paused', failure: kind, pauseMs });
    throw Worker.RateLimitError();
  }

  if (state.attempt >= policy.attempts) {
    throw await fail(kind, `gave up after ${state.attempt} attempts: ${reason}`);
  }
  const delayMs = computeBackoff(state.attempt, policy);
  state.lastErrorClass = kind;
  state.lastError = reason.slice(0, 1000);
  logger.warn(
    { err, failure: kind, retryInMs: delayMs },
    `attempt ${state.attempt} failed (${kind}), retrying in ${delayMs} ms: ${reason}`,
  );
  await rescheduling(ctx, async () => {
    await writeJobState(ctx.job, state);
    await ctx.job.moveToDelayed(Date.now() + delayMs, ctx.token!);
  });
  report(ctx, { action: 'retry', failure: kind, delayMs });
  throw new DelayedError(`retrying in ${delayMs} ms: ${reason}`);
}

/**
 * Runs the Redis writes that put a job back. If they fail (Redis went away mid-failure), a
 * plain error would let BullMQ fail the job by its own options (one attempt): instead the job
 * is left active without its lock being renewed, and BullMQ's stalled-job recovery puts it
 * back once the lock expires. `DelayedError` tells BullMQ not to touch it.
 */
async function rescheduling(ctx: SettleContext, writes: () => Promise<void>): Promise<void> {
  try {
    await writes();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    ctx.logger.error({ err }, `could not reschedule the job; left to stalled-job recovery`);
    throw new DelayedError(`could not reschedule (${message}); left to stalled-job recovery`);
  }
}

function report(ctx: SettleContext, outcome: SettleOutcome): void {
  try {
    ctx.onOutcome?.(outcome);
  } catch {
    // Telemetry never fails a job.
  }
}
