import { DelayedError, type Job, UnrecoverableError } from 'bullmq';

import {
  AskqError,
  BreakerOpenError,
  coerceError,
  failureClassOf,
  RateLimitedError,
} from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { type JobState, writeJobState } from '../job-state.ts';
import { type BackoffOptions, computeBackoff } from './backoff.ts';

/** The worker's retry policy; it applies whatever options the job was added with. */
export interface RetryPolicy extends BackoffOptions {
  /** Attempts per job, the first included. @defaultValue 5 */
  attempts: number;
}

/**
 * The one place the error taxonomy meets BullMQ. Permanent → `UnrecoverableError` (fails now,
 * reason recorded). Anything else → the job is moved to delayed with askq's backoff and
 * `DelayedError` is thrown, counting the attempt in the job's own state, until `attempts` are
 * spent; then it fails as unrecoverable with the last reason. A job's own `attempts`/`backoff`
 * options never come into it, so a foreign producer's single-attempt job is retried alike.
 */
export async function settleFailure(
  thrown: unknown,
  ctx: {
    job: Job;
    token: string | undefined;
    state: JobState;
    policy: RetryPolicy;
    logger: Logger;
  },
): Promise<never> {
  const err = coerceError(thrown);
  const kind = failureClassOf(err) ?? 'transient';
  const attempt = ctx.state.attempt;
  const reason = describe(err);
  if (kind === 'permanent') {
    ctx.logger.warn({ err, failure: kind }, `job failed permanently: ${reason}`);
    throw new UnrecoverableError(reason);
  }
  if (attempt >= ctx.policy.attempts || ctx.token === undefined) {
    ctx.logger.error({ err, failure: kind }, `job failed after ${attempt} attempts: ${reason}`);
    throw new UnrecoverableError(`gave up after ${attempt} attempts: ${reason}`);
  }
  const backoff = computeBackoff(attempt, ctx.policy);
  const hinted =
    err instanceof RateLimitedError || err instanceof BreakerOpenError
      ? (err.retryAfterMs ?? 0)
      : 0;
  const delay = Math.max(backoff, hinted);
  ctx.logger.warn(
    { err, failure: kind, retryInMs: delay },
    `attempt ${attempt} failed (${kind}), retrying in ${delay} ms: ${reason}`,
  );
  await writeJobState(ctx.job, ctx.state);
  await ctx.job.moveToDelayed(Date.now() + delay, ctx.token);
  throw new DelayedError(`retrying in ${delay} ms: ${reason}`);
}

function describe(err: Error): string {
  return err instanceof AskqError || err.message ? err.message : err.name;
}
