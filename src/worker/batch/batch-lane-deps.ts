import { Job, type Queue } from 'bullmq';
import OpenAI from 'openai';

import type { BatchApi } from '../../shared/batch/batch-api.ts';
import { BATCH_API_LIMITS, BATCH_JOBS, type BatchOutcome } from '../../shared/batch/batch-lane.ts';
import { BatchStore } from '../../shared/batch/batch-store.ts';
import { DEFAULTS } from '../../shared/defaults.ts';
import type { Logger } from '../../shared/logger.ts';
import type { ChatPort, GraderPort, Ports } from '../../shared/ports.ts';
import type { Redis } from '../../shared/redis.ts';
import { HOUR, SECOND } from '../../shared/time.ts';
import type { RetryPolicy } from '../attempt/settle-failure.ts';
import type { WorkerEventSink } from '../worker-events.ts';

/** Timing and size settings of the batch lane (ASKQ_BATCH_*). */
export interface BatchLaneSettings {
  /** First wait between status checks; doubles per check. @defaultValue 15000 */
  pollMs: number;
  /** Longest wait between status checks. @defaultValue 300000 */
  pollMaxMs: number;
  /** A batch is sealed once no request arrived for this long. @defaultValue 5000 */
  windowMs: number;
  /** Longest a batch waits for more requests. @defaultValue 120000 */
  gatherMaxMs: number;
  /** Requests per batch file. @defaultValue 50000 */
  maxRequests: number;
  /** Bytes per batch file. @defaultValue 200 MiB */
  maxBytes: number;
  /** Batches one request is sent in before a 429/5xx or expiry becomes its error. @defaultValue 3 */
  maxTries: number;
  /** A waiting case wakes up this often to check on itself (its batch normally wakes it). @defaultValue 1 hour */
  caseRecheckMs: number;
  /** Attempts of a submit or poll job's Batch API calls. @defaultValue 8 */
  controlAttempts: number;
}

export const BATCH_LANE_DEFAULTS = {
  pollMs: DEFAULTS.batchPollMs,
  pollMaxMs: DEFAULTS.batchPollMaxMs,
  windowMs: DEFAULTS.batchWindowMs,
  gatherMaxMs: DEFAULTS.batchGatherMaxMs,
  maxRequests: DEFAULTS.batchMaxRequests,
  maxBytes: BATCH_API_LIMITS.maxBytes,
  maxTries: 3,
  caseRecheckMs: HOUR,
  controlAttempts: 8,
} satisfies BatchLaneSettings;

/** What the batch lane's jobs are handed (collaborators, never singletons). */
export interface BatchLaneDeps {
  redis: Redis;
  prefix: string;
  /** Retention of the lane's keys and jobs, seconds. */
  ttlSeconds: number;
  /** The {@link EVAL_BATCH_QUEUE} handle: adds submit and poll jobs, wakes cases. */
  queue: Queue;
  api: BatchApi;
  /** The process's ports behind their policies and spans (retrieval, scoring, online fallback). */
  ports: Ports;
  /** The raw chat port: it writes the request bodies of the batch lines. */
  chat: ChatPort;
  policy: RetryPolicy;
  logger: Logger;
  /** The worker's events (metrics, logs) for the cases' attempts. */
  events: WorkerEventSink;
  defaultNamespace: string;
  defaultTopK: number;
  /** Characters of each source's text in a case's result, unless it asks for `full`. */
  sourceTextChars: number;
  retrievalFallback: 'retry' | 'degrade';
  /** Models a case's variant may name. @defaultValue any */
  allowedModels?: ReadonlySet<string>;
  /** The grader for a case's `grader` model, or the configured one. @defaultValue the ports' grader */
  graderFor?: (model: string | undefined) => Promise<GraderPort | undefined>;
  pauseQueue: (ms: number) => Promise<void>;
  settings: BatchLaneSettings;
  /** Whether a producer asked to cancel this case lately: it must not start. @defaultValue never */
  wasCancelled?: (job: Job) => boolean;
}

export function storeOf(deps: BatchLaneDeps, runId: string): BatchStore {
  return new BatchStore(deps.redis, deps.prefix, runId, deps.ttlSeconds);
}

function controlOptions(deps: BatchLaneDeps, jobId: string, delay: number) {
  return {
    jobId,
    delay,
    attempts: deps.settings.controlAttempts,
    backoff: { type: 'exponential', delay: 2 * SECOND },
    removeOnComplete: { age: deps.ttlSeconds },
    removeOnFail: { age: deps.ttlSeconds },
  };
}

/**
 * Makes sure a submit job exists for `chunk`: its fixed id makes every caller after the first
 * a no-op, so each chunk is submitted by exactly one job.
 */
export async function ensureSubmit(deps: BatchLaneDeps, runId: string, chunk: number) {
  await deps.queue.add(
    BATCH_JOBS.submit,
    { runId, chunk },
    controlOptions(deps, `bsubmit-${runId}-${chunk}`, deps.settings.windowMs),
  );
}

/** Makes sure the poll job of `chunk`'s batch exists. */
export async function ensurePoll(deps: BatchLaneDeps, runId: string, chunk: number) {
  await deps.queue.add(
    BATCH_JOBS.poll,
    { runId, chunk },
    controlOptions(deps, `bpoll-${runId}-${chunk}`, deps.settings.pollMs),
  );
}

/**
 * Wakes the cases whose outcome is in: a delayed case job is promoted; one that is not
 * delayed (running, or already woken) reads its outcome when it runs.
 */
export async function wakeCases(deps: BatchLaneDeps, ids: string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 100) {
    await Promise.all(
      ids.slice(i, i + 100).map(async (id) => {
        const job = await Job.fromId(deps.queue, id);
        await job?.promote().catch(() => {});
      }),
    );
  }
}

/** Ends every case of a chunk in error with `message` and wakes them. */
export async function endCases(
  deps: BatchLaneDeps,
  store: BatchStore,
  record: Parameters<BatchStore['settle']>[0],
  ids: string[],
  message: string,
): Promise<void> {
  const outcomes = new Map<string, BatchOutcome>(ids.map((id) => [id, { kind: 'error', message }]));
  await store.settle(record, outcomes, []);
  await wakeCases(deps, ids);
}

/** A 4xx other than 429 from the Batch API: retrying the same call cannot help. */
export function isPermanentApiError(err: unknown): boolean {
  const status = err instanceof OpenAI.APIError ? err.status : undefined;
  return status !== undefined && status >= 400 && status < 500 && status !== 429 && status !== 408;
}
