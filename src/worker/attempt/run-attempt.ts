import { type Job, UnrecoverableError } from 'bullmq';

import { type AnswerResult, formatIssues, type IngestResult } from '../../shared/contracts.ts';
import { TransientError } from '../../shared/errors.ts';
import { completedState, readJobState, writeJobState } from '../../shared/job-state.ts';
import type { Logger } from '../../shared/logger.ts';
import type { Ports } from '../../shared/ports.ts';
import { CANCELLED_REASON } from '../../shared/tenancy/cancel-channel.ts';
import { cancelledFailure, isCancelRequested } from '../cancellation/cancel-listener.ts';
import type { JobRef, WorkerEventSink } from '../worker-events.ts';
import { backoffCeiling } from './backoff.ts';
import { bindSignal } from './bind-signal.ts';
import type { JobHelpers, JobKind } from './job-kind.ts';
import { type RetryPolicy, settleFailure, type SettleOutcome } from './settle-failure.ts';

export interface AttemptRunnerContext {
  /** The guarded ports (policies and spans), shared by every job of the process. */
  ports: Ports;
  policy: RetryPolicy;
  logger: Logger;
  events: WorkerEventSink;
  /** Pauses the job's queue for every worker (rate limits, open breakers). */
  pauseQueue: (ms: number) => Promise<void>;
  /** Whether a producer asked to cancel this job lately: it must not start. @defaultValue never */
  wasCancelled?: (job: Job) => boolean;
}

/**
 * The BullMQ processor for one kind of job: owns an attempt from start to outcome. It reads
 * and counts the job's state, validates the data (a foreign producer's malformed job fails
 * at once with the reason), checks the deadline before running, runs the job's function with
 * its helpers, and settles: the result on success; retry, queue pause, unrecoverable failure
 * or stalled hand-off on failure ({@link settleFailure}). Every outcome is an event.
 */
export function createAttemptRunner<Data, Result extends AnswerResult | IngestResult>(
  kind: JobKind<Data, Result>,
  ctx: AttemptRunnerContext,
) {
  return async (job: Job, token?: string, signal?: AbortSignal): Promise<Result> => {
    const state = readJobState(job.data);
    state.attempt += 1;
    const firstStartedAt = (state.firstStartedAt ??= job.processedOn ?? Date.now());
    const ref: JobRef = { queue: kind.queue, jobId: job.id ?? '', attempt: state.attempt };
    ctx.events.emit('job:started', ref);
    // Cancelled on request (cancellation/cancel-listener.ts): failed at once, never retried.
    const cancelled = (): never => {
      ctx.events.emit('job:failed', { ...ref, failure: 'cancelled', reason: CANCELLED_REASON });
      throw cancelledFailure();
    };
    if (ctx.wasCancelled?.(job)) return cancelled();

    const parsed = kind.schema.safeParse(job.data);
    if (!parsed.success) {
      const reason = `invalid ${kind.dataName}: ${formatIssues(parsed.error)}`;
      ctx.events.emit('job:failed', { ...ref, failure: 'permanent', reason });
      throw new UnrecoverableError(reason);
    }
    const settle = async (err: unknown): Promise<never> => {
      const { outcome, error } = await settleFailure(err, {
        job,
        token,
        state,
        policy: ctx.policy,
        pauseQueue: ctx.pauseQueue,
      });
      reportSettlement(ctx.events, ref, outcome);
      throw error;
    };
    const { deadlineMs } = ctx.policy;
    if (deadlineMs !== undefined && Date.now() - firstStartedAt >= deadlineMs) {
      state.attempt -= 1; // this attempt never ran
      return settle(new TransientError(state.lastError ?? 'no attempt finished in time'));
    }

    const helpers: JobHelpers = {
      signal: signal ?? new AbortController().signal,
      logger: ctx.logger.child({ job_id: job.id, attempt: state.attempt }),
      ports: bindSignal(ctx.ports, signal),
      job: {
        id: ref.jobId,
        timestamp: job.timestamp,
        firstStartedAt,
        attempt: state.attempt,
        lastAttempt: state.attempt >= ctx.policy.attempts,
        ...(deadlineMs === undefined ? {} : { deadlineAt: firstStartedAt + deadlineMs }),
        retryDelayCeilingMs: backoffCeiling(state.attempt, ctx.policy),
      },
      checkpoints: {
        ...(state.retrieval ? { retrieval: state.retrieval } : {}),
        ...(state.generation ? { generation: state.generation } : {}),
        ...(state.chatBlockedSince ? { chatBlockedSince: state.chatBlockedSince } : {}),
      },
      checkpoint: (stage, value) => {
        state[stage] = value;
      },
      // The payload type matches the event by JobHelpers.emit's signature; TypeScript cannot
      // follow a generic event name into the union of tuples.
      emit: (event, payload) => {
        ctx.events.emit(event, { ...ref, ...payload } as never);
      },
    };
    let result: Result;
    try {
      result = await kind.run(parsed.data, helpers);
    } catch (err) {
      if (isCancelRequested(signal)) return cancelled();
      return settle(err);
    }
    // Before BullMQ stores the result: a retried job's checkpoints (whole chunks, the answer)
    // would otherwise stay in its data as long as the job is retained. Only bytes are at
    // stake, so a failed write leaves them rather than failing an answered job.
    const kept = completedState(job.data);
    if (kept) await writeJobState(job, kept).catch(() => {});
    ctx.events.emit('job:completed', { ...ref, result });
    return result;
  };
}

/** A settled failure as the worker's event (job:failed, job:retry, job:paused…). */
export function reportSettlement(
  events: WorkerEventSink,
  ref: JobRef,
  outcome: SettleOutcome,
): void {
  switch (outcome.action) {
    case 'failed': {
      const { action: _, ...rest } = outcome;
      events.emit('job:failed', { ...ref, ...rest });
      break;
    }
    case 'retry': {
      const { action: _, ...rest } = outcome;
      events.emit('job:retry', { ...ref, ...rest });
      break;
    }
    case 'paused': {
      const { action: _, ...rest } = outcome;
      events.emit('job:paused', { ...ref, ...rest });
      break;
    }
    case 'cancelled':
      events.emit('job:cancelled', { ...ref, reason: outcome.reason });
      break;
    case 'stranded':
      events.emit('job:stranded', { ...ref, err: outcome.err });
      break;
  }
}
