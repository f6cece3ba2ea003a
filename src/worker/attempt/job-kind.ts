import type { z } from 'zod';

import type { JobState } from '../../shared/job-state.ts';
import type { Logger } from '../../shared/logger.ts';
import type { Ports } from '../../shared/ports.ts';
import type { AskqWorkerEvents, JobRef } from '../worker-events.ts';

/** Stage outputs a job keeps between attempts (BullMQ's step-job pattern). */
export type Checkpoints = Pick<JobState, 'retrieval' | 'generation' | 'chatBlockedSince'>;

/** Events a job function reports about itself; the runner adds which job and attempt. */
export type JobEventName = 'job:stage' | 'job:degraded' | 'cache:error';

/** What a job function gets besides its data (graphile-worker's `helpers`). */
export interface JobHelpers {
  /** Aborted when the job is cancelled (shutdown); the ports already carry it. */
  signal: AbortSignal;
  /** The worker's logger with `job_id` and `attempt`. */
  logger: Logger;
  /** Chat, embeddings and store behind their policies (breaker, timeout, pause) and spans. */
  ports: Ports;
  /** The job, as the runner counted it. */
  job: {
    id: string;
    /** When the producer added it. */
    timestamp: number;
    /** When its first attempt started. */
    firstStartedAt: number;
    attempt: number;
    /** True on the last attempt the retry policy allows. */
    lastAttempt: boolean;
    /** When the job's deadline passes; undefined without one. */
    deadlineAt?: number;
    /** The longest the retry after a transient failure of this attempt would wait. */
    retryDelayCeilingMs: number;
  };
  /** Checkpoints earlier attempts kept. */
  checkpoints: Readonly<Checkpoints>;
  /**
   * Keeps a completed stage's output for the next attempt. Held with the job's state and
   * written with it when the attempt fails (one Redis write per failure, none per success);
   * after a crash the stage runs again, which costs time, not correctness.
   */
  checkpoint<K extends keyof Checkpoints>(stage: K, value: NonNullable<Checkpoints[K]>): void;
  /** Reports an event about this job (the worker's typed events). */
  emit<K extends JobEventName>(event: K, payload: Omit<AskqWorkerEvents[K][0], keyof JobRef>): void;
}

/** One kind of askq job: its queue, how its data is validated, and its function. */
export interface JobKind<Data, Result> {
  queue: string;
  /** What invalid data is called in the failure reason, e.g. `job data`. */
  dataName: string;
  schema: z.ZodType<Data, unknown>;
  run(data: Data, helpers: JobHelpers): Promise<Result>;
}
