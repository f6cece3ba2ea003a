import type { Job } from 'bullmq';

import type { BatchApiOptions } from '../../shared/batch/batch-api.ts';
import { BATCH_JOBS, EVAL_BATCH_QUEUE } from '../../shared/batch/batch-lane.ts';
import { ValidationError } from '../../shared/errors.ts';
import type { Redis } from '../../shared/redis.ts';
import { cancelQuestions } from '../cancel-questions.ts';
import { type CancelledBatch, cancelRunBatches, isBatchRun } from './batch/cancel-batches.ts';
import { EvalFlow } from './eval-flow.ts';

/** What `askq eval cancel` did. */
export interface RunCancellation {
  runId: string;
  /** Cases removed before they started. */
  removed: number;
  /** Active cases whose workers were asked to abort them (they end failed, `cancelled`). */
  aborting: number;
  /** A batch-lane run's batches that were open and are now being cancelled. */
  batches?: CancelledBatch[];
}

/** Jobs read and cancelled per round trip. */
const CHUNK = 500;

/**
 * Cancels every unfinished case of a run, wherever it runs: marks the run cancelled (a
 * producer still enqueueing it stops), removes waiting and delayed cases, and asks every
 * worker to abort the active ones. Cases already answered keep their results; a resume
 * (`askq eval run --resume <runId>`) runs the cancelled ones.
 *
 * A batch-lane run also has its open batches cancelled. Its cases asleep until their batch
 * is collected stay: the lane ends them (`run cancelled`), or scores what the batch answered
 * before it was cancelled.
 */
export async function cancelRun(options: {
  connection: Redis;
  prefix: string;
  runId: string;
  /** How long the cancel marks are kept. @defaultValue one day */
  keepSeconds?: number;
  /** Where the Batch API is, to cancel a batch-lane run's open batches. */
  batchApi?: BatchApiOptions;
}): Promise<RunCancellation> {
  const { connection, prefix, runId } = options;
  const keepSeconds = options.keepSeconds ?? 86_400;
  const batchLane = await isBatchRun(connection, prefix, runId);
  const flow = new EvalFlow({
    connection,
    prefix,
    runId,
    priority: 1,
    keepSeconds,
    ...(batchLane
      ? { lane: { queue: EVAL_BATCH_QUEUE, jobName: BATCH_JOBS.case, data: { runId } } }
      : {}),
  });
  const queue = flow.questions;
  try {
    // Marked first, so cases a producer adds while this runs are not started after it.
    await flow.markCancelled();
    const batches = batchLane
      ? await cancelRunBatches({
          redis: connection,
          prefix,
          runId,
          keepSeconds,
          ...(options.batchApi ? { api: options.batchApi } : {}),
        })
      : undefined;
    const ids = await flow.unfinishedJobIds();
    // A batch-lane run whose open batches were just cancelled was cancelled, even when the
    // lane has already ended its last sleeping cases (and so the run) in the meantime.
    if (ids === undefined && !batches?.length) {
      await flow.forgetCancellation();
      throw new ValidationError(
        `run ${runId} has no unfinished cases in Redis (prefix ${prefix}): it finished, or never started`,
      );
    }
    const outcome: RunCancellation = {
      runId,
      removed: 0,
      aborting: 0,
      ...(batches ? { batches } : {}),
    };
    const unfinished = ids ?? [];
    for (let i = 0; i < unfinished.length; i += CHUNK) {
      const jobs = await Promise.all(unfinished.slice(i, i + CHUNK).map((id) => queue.getJob(id)));
      const found = await withoutSleepingCases(
        jobs.filter((j) => j !== undefined),
        batchLane,
      );
      const cancelled = await cancelQuestions(queue, connection, found);
      const aborting = cancelled.filter((c) => c.outcome === 'aborting').map((c) => c.id);
      await flow.rememberAborted(aborting);
      outcome.removed += cancelled.filter((c) => c.outcome === 'removed').length;
      outcome.aborting += aborting.length;
    }
    return outcome;
  } finally {
    await flow.close().catch(() => {});
  }
}

/** A batch-lane case delayed until its batch is collected is the lane's to end, not removed. */
async function withoutSleepingCases(jobs: Job[], batchLane: boolean): Promise<Job[]> {
  if (!batchLane) return jobs;
  const states = await Promise.all(jobs.map((j) => j.getState()));
  return jobs.filter((_, i) => states[i] !== 'delayed');
}
