import { AskqError } from '../shared/errors.ts';

/** The question failed; `reason` is the worker's recorded reason. */
export class QuestionFailedError extends AskqError {
  override name = 'QuestionFailedError';
  readonly jobId: string;
  constructor(jobId: string, reason: string) {
    super(`question ${jobId} failed: ${reason}`);
    this.jobId = jobId;
  }
}

/**
 * `askMany` failed part-way and removing what it had added failed too: `ids` are exactly the
 * questions still enqueued (in input order).
 */
export class PartialEnqueueError extends AskqError {
  override name = 'PartialEnqueueError';
  readonly ids: string[];
  constructor(ids: string[], total: number, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`enqueued ${ids.length} of ${total} questions, then: ${reason}`, { cause });
    this.ids = [...ids];
  }
}

/** No answer within the wait; the question is still queued or running. */
export class WaitTimeoutError extends AskqError {
  override name = 'WaitTimeoutError';
}
