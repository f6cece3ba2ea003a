import type { Job } from 'bullmq';

import type { AnswerResult } from '../shared/contracts.ts';

export type QuestionState =
  | 'waiting'
  | 'delayed'
  | 'active'
  | 'completed'
  | 'failed'
  | 'prioritized'
  | 'waiting-children'
  | 'unknown';

/** Where a question is, and its answer or error once it has one. */
export interface QuestionStatus {
  id: string;
  state: QuestionState;
  /** Attempts started so far. */
  attempts: number;
  result?: AnswerResult;
  error?: string;
  createdAt: number;
  finishedAt?: number;
}

/** A job and the state read before it, as a {@link QuestionStatus}. */
export function toStatus(job: Job, state: QuestionState): QuestionStatus {
  return {
    id: job.id!,
    state,
    attempts: job.attemptsStarted ?? job.attemptsMade,
    ...(state === 'completed' ? { result: job.returnvalue as AnswerResult } : {}),
    ...(state === 'failed' ? { error: job.failedReason } : {}),
    createdAt: job.timestamp,
    ...(job.finishedOn ? { finishedAt: job.finishedOn } : {}),
  };
}
