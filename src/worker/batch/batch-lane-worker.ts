import { type Job, Queue, UnrecoverableError, Worker, type WorkerOptions } from 'bullmq';

import { BatchApi } from '../../shared/batch/batch-api.ts';
import { BATCH_JOBS, EVAL_BATCH_QUEUE } from '../../shared/batch/batch-lane.ts';
import { eventStreamOptions } from '../../shared/queue-options.ts';
import type { Redis } from '../../shared/redis.ts';
import { consumerSpans } from '../../shared/telemetry/queue-telemetry.ts';
import { pauseQueue } from '../resilience/pause-queue.ts';
import {
  BATCH_LANE_DEFAULTS,
  type BatchLaneDeps,
  type BatchLaneSettings,
} from './batch-lane-deps.ts';
import { runCaseJob } from './case-job.ts';
import { runPollJob } from './poll-job.ts';
import { runSubmitJob } from './submit-job.ts';

/** The lane's BullMQ worker and the queue handle its jobs use. */
export interface BatchLane {
  worker: Worker;
  queue: Queue;
}

/** What {@link startBatchLane} needs besides the process's shared collaborators. */
export interface BatchLaneStart extends Omit<
  BatchLaneDeps,
  'redis' | 'queue' | 'api' | 'settings' | 'pauseQueue'
> {
  connection: Redis;
  /** Entries kept in the lane queue's events stream. */
  eventsMaxLen: number;
  /** The Batch API's server and key (the chat provider's). */
  openai: { apiKey: string; baseURL?: string };
  /** @defaultValue {@link BATCH_LANE_DEFAULTS} */
  settings?: Partial<BatchLaneSettings>;
  /** Record results on the consumer spans (ASKQ_CAPTURE_CONTENT). @defaultValue false */
  captureContent?: boolean;
}

/**
 * Starts the worker of {@link EVAL_BATCH_QUEUE}: one processor for the lane's three job kinds
 * (`case`, `submit`, `poll`), sharing the process's ports and policies.
 */
export function startBatchLane(
  start: BatchLaneStart,
  workerOptions: Omit<WorkerOptions, 'connection'>,
): BatchLane {
  const { connection, openai, settings, eventsMaxLen: _, captureContent, ...shared } = start;
  const queue = new Queue(EVAL_BATCH_QUEUE, {
    connection,
    prefix: start.prefix,
    ...eventStreamOptions(start.eventsMaxLen),
  });
  queue.on('error', () => {});
  const lane: BatchLaneDeps = {
    ...shared,
    redis: connection,
    queue,
    api: new BatchApi(openai),
    pauseQueue: (ms) => pauseQueue(connection, queue, ms),
    settings: { ...BATCH_LANE_DEFAULTS, ...settings },
  };
  // The lane's jobs put themselves back on purpose (a case waits for its batch, a poll job
  // checks again, for up to a day): a bound on starts would fail them for waiting. Their
  // retries are bounded by the retry policy and their stalls by maxStalledCount.
  const { maxStartedAttempts: _unbounded, ...options } = workerOptions;
  const worker = new Worker(
    EVAL_BATCH_QUEUE,
    consumerSpans(
      EVAL_BATCH_QUEUE,
      async (job: Job, token?: string, signal?: AbortSignal): Promise<unknown> => {
        switch (job.name) {
          case BATCH_JOBS.case:
            return runCaseJob(job, token, signal, lane);
          case BATCH_JOBS.submit:
            return runSubmitJob(job, token, lane);
          case BATCH_JOBS.poll:
            return runPollJob(job, token, lane);
          default:
            throw new UnrecoverableError(`unknown ${EVAL_BATCH_QUEUE} job name "${job.name}"`);
        }
      },
      { captureContent: captureContent ?? false },
    ),
    { ...options, connection },
  );
  return { worker, queue };
}
