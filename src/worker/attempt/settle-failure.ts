import { DelayedError, type Job, UnrecoverableError, Worker } from 'bullmq';

import {
  AskqError,
  BreakerOpenError,
  CancelledError,
  coerceError,
  failureClassOf,
  RateLimitedError,
} from '../../shared/errors.ts';
import { failedState, type JobState, writeJobState } from '../../shared/job-state.ts';
import { SECOND } from '../../shared/time.ts';
import type { FailureKind } from '../worker-events.ts';
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
  /** Pauses the whole queue (every worker) for `ms`: BullMQ's queue-level rate limit. */
  pauseQueue: (ms: number) => Promise<void>;
}

/** What became of a failed attempt, for the worker's events. */
export type SettleOutcome =
  | { action: 'failed'; failure: FailureKind; reason: string; err: Error }
  | { action: 'retry'; failure: FailureKind; delayMs: number; reason: string; err: Error }
  | { action: 'paused'; failure: FailureKind; pauseMs: number; reason: string; err: Error }
  | { action: 'cancelled'; reason: string }
  | { action: 'stranded'; err: Error };

/** The outcome, and the error the processor throws so BullMQ does what it says. */
export interface Settlement {
  outcome: SettleOutcome;
  error: Error;
}

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
 *
 * The job's state (checkpoints included) is written with every outcome, so the next attempt
 * resumes where this one stopped.
 */
export async function settleFailure(thrown: unknown, ctx: SettleContext): Promise<Settlement> {
  const err = coerceError(thrown);
  const kind = failureClassOf(err) ?? 'transient';
  const { state, policy } = ctx;
  const reason = err instanceof AskqError || err.message ? err.message : err.name;
  const fail = async (
    failure: Exclude<FailureKind, 'cancelled'>,
    message: string,
  ): Promise<Settlement> => {
    state.lastErrorClass = failure;
    await writeJobState(ctx.job, failedState(state)).catch(() => {});
    return {
      outcome: { action: 'failed', failure, reason: message, err },
      error: new UnrecoverableError(message),
    };
  };

  if (kind === 'permanent') return fail('permanent', reason);
  const ranMs = Date.now() - (state.firstStartedAt ?? Date.now());
  if (policy.deadlineMs !== undefined && ranMs >= policy.deadlineMs) {
    return fail(
      'deadline',
      `deadline of ${policy.deadlineMs} ms passed after ${state.attempt} attempts: ${reason}`,
    );
  }
  if (ctx.token === undefined) return fail(kind, reason);

  if (err instanceof CancelledError) {
    // The worker is shutting down (or the job was cancelled): give the attempt back and let
    // another worker take the job at once.
    state.attempt = Math.max(0, state.attempt - 1);
    const stranded = await rescheduling(async () => {
      await writeJobState(ctx.job, state);
      await ctx.job.moveToDelayed(Date.now(), ctx.token!);
    });
    return (
      stranded ?? {
        outcome: { action: 'cancelled', reason },
        error: new DelayedError(`cancelled: ${reason}`),
      }
    );
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
    const stranded = await rescheduling(async () => {
      await writeJobState(ctx.job, state);
      await ctx.pauseQueue(pauseMs);
    });
    return (
      stranded ?? {
        outcome: { action: 'paused', failure: kind, pauseMs, reason, err },
        error: Worker.RateLimitError(),
      }
    );
  }

  if (state.attempt >= policy.attempts) {
    return fail(kind, `gave up after ${state.attempt} attempts: ${reason}`);
  }
  const delayMs = computeBackoff(state.attempt, policy);
  state.lastErrorClass = kind;
  state.lastError = reason.slice(0, 1000);
  const stranded = await rescheduling(async () => {
    await writeJobState(ctx.job, state);
    await ctx.job.moveToDelayed(Date.now() + delayMs, ctx.token!);
  });
  return (
    stranded ?? {
      outcome: { action: 'retry', failure: kind, delayMs, reason, err },
      error: new DelayedError(`retrying in ${delayMs} ms: ${reason}`),
    }
  );
}

/**
 * Runs the Redis writes that put a job back. If they fail (Redis went away mid-failure), a
 * plain error would let BullMQ fail the job by its own options (one attempt): instead the job
 * is left active without its lock being renewed, and BullMQ's stalled-job recovery puts it
 * back once the lock expires. `DelayedError` tells BullMQ not to touch it.
 */
async function rescheduling(writes: () => Promise<void>): Promise<Settlement | undefined> {
  try {
    await writes();
    return undefined;
  } catch (thrown) {
    const err = coerceError(thrown);
    return {
      outcome: { action: 'stranded', err },
      error: new DelayedError(
        `could not reschedule (${err.message}); left to stalled-job recovery`,
      ),
    };
  }
}
