import type { Job, Queue } from 'bullmq';

import { readJobState, resetJobState } from '../shared/job-state.ts';

/** A job that failed for good: permanently, past its deadline or out of attempts. */
export interface DeadLetter {
  id: string;
  /** The question (or the first 120 characters of it); empty when the data had none. */
  question: string;
  reason: string;
  /** Attempts counted by the worker. */
  attempts: number;
  /** permanent | transient | rate_limited | breaker_open | deadline, when the worker recorded it. */
  errorClass: string | undefined;
  createdAt: number;
  failedAt: number | undefined;
}

export interface RetryOutcome {
  retried: string[];
  /** Ids that are unknown or not failed. */
  skipped: { id: string; reason: string }[];
}

const PAGE = 500;

/** Failed jobs, newest first. */
export async function listDeadLetters(queue: Queue, limit = 100): Promise<DeadLetter[]> {
  const jobs = await queue.getFailed(0, Math.max(0, limit - 1));
  return jobs.filter((j): j is Job => Boolean(j)).map(toDeadLetter);
}

/**
 * Moves failed jobs back to waiting with a fresh budget: the worker's attempt count,
 * checkpoints and BullMQ's own counters are reset, so a retried job is tried as if new.
 */
export async function retryDeadLetters(queue: Queue, ids: string[] | 'all'): Promise<RetryOutcome> {
  const outcome: RetryOutcome = { retried: [], skipped: [] };
  const retry = async (job: Job) => {
    await resetJobState(job);
    await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    outcome.retried.push(job.id!);
  };
  if (ids === 'all') {
    // The failed set as it is now, read whole first: a retried job that fails again while
    // this runs must not be retried again (a permanent error would loop forever).
    const snapshot: Job[] = [];
    for (let start = 0; ; start += PAGE) {
      const page = (await queue.getFailed(start, start + PAGE - 1)).filter((j): j is Job =>
        Boolean(j),
      );
      snapshot.push(...page);
      if (page.length < PAGE) break;
    }
    for (const job of snapshot) await retry(job);
    return outcome;
  }
  for (const id of ids) {
    const job = await queue.getJob(id);
    if (!job) {
      outcome.skipped.push({ id, reason: 'no such job' });
      continue;
    }
    const state = await job.getState();
    if (state !== 'failed') {
      outcome.skipped.push({ id, reason: `job is ${state}, not failed` });
      continue;
    }
    await retry(job);
  }
  return outcome;
}

function toDeadLetter(job: Job): DeadLetter {
  const state = readJobState(job.data);
  const question =
    typeof (job.data as { question?: unknown } | undefined)?.question === 'string'
      ? (job.data as { question: string }).question
      : '';
  return {
    id: job.id!,
    question: question.length > 120 ? `${question.slice(0, 119)}…` : question,
    reason: job.failedReason,
    attempts: state.attempt,
    errorClass: state.lastErrorClass,
    createdAt: job.timestamp,
    failedAt: job.finishedOn,
  };
}
