import type { Job } from 'bullmq';
import { z } from 'zod';

import { sourceSchema, usageSchema } from './contracts.ts';

/**
 * The worker's own bookkeeping, kept in the job's data under {@link STATE_KEY} so it survives
 * retries and crashes: attempts counted by askq (a foreign producer's job may say `attempts: 1`),
 * when the first attempt started, and completed stages' outputs. Producers never set it; the
 * worker ignores a malformed one rather than failing the job. Retrying a dead letter
 * ({@link resetJobState}) starts its count afresh. The one producer exception is
 * `askq eval run --retry-errors`, which carries a case's completed stages into its new job
 * ({@link checkpointOf}), so a case whose scoring failed is only scored again.
 */
export const STATE_KEY = '__askq';

const stateSchema = z.object({
  attempt: z.number().int().min(0).default(0),
  firstStartedAt: z.number().optional(),
  retrieval: z.object({ sources: z.array(sourceSchema), retrieveMs: z.number().min(0) }).optional(),
  /** The answer, once generated: a retry after a failed scoring call only scores again. */
  generation: z
    .object({
      answer: z.string(),
      model: z.string(),
      usage: usageSchema,
      generateMs: z.number().min(0),
    })
    .optional(),
  /** Class of the error that ended the job or its last attempt (dead-letter inspection). */
  lastErrorClass: z
    .enum(['permanent', 'transient', 'rate_limited', 'breaker_open', 'deadline'])
    .optional(),
  /** Times the job was put back by a rate-limit or breaker pause (grows the next pause). */
  pauses: z.number().int().min(0).optional(),
  /** When an open chat breaker or a chat rate limit first held this job up (the chat fallback). */
  chatBlockedSince: z.number().optional(),
  /** Message of the last attempt's error, for a later failure's reason. */
  lastError: z.string().max(1000).optional(),
});

export type JobState = z.infer<typeof stateSchema>;

export function readJobState(data: unknown): JobState {
  const raw =
    typeof data === 'object' && data !== null
      ? (data as Record<string, unknown>)[STATE_KEY]
      : undefined;
  // A first attempt's job has none: nothing to validate.
  if (raw === undefined) return { attempt: 0 };
  const parsed = stateSchema.safeParse(raw);
  return parsed.success ? parsed.data : { attempt: 0 };
}

/** Writes the state into the job's data, leaving the producer's fields as they were. */
export async function writeJobState(job: Job, state: JobState): Promise<void> {
  const data = typeof job.data === 'object' && job.data !== null ? job.data : {};
  await job.updateData({ ...data, [STATE_KEY]: state });
}

/** Clears the attempt count and checkpoints, so a retried dead letter gets a full budget. */
export async function resetJobState(job: Job): Promise<void> {
  await writeJobState(job, { attempt: 0 });
}

/**
 * What a job keeps of its state once it completed: the counters, without the stage outputs
 * (whole chunk texts, the answer) and the last error, which only a next attempt reads; the
 * result carries what a reader needs. Undefined when there is nothing to drop, so a job that
 * never failed an attempt costs no extra write.
 */
export function completedState(data: unknown): JobState | undefined {
  // Most jobs never failed an attempt: no state to parse on their way out.
  if (typeof data !== 'object' || data === null || !(STATE_KEY in data)) return undefined;
  const { retrieval, generation, lastError, ...kept } = readJobState(data);
  return retrieval || generation || lastError !== undefined ? kept : undefined;
}

/**
 * What a job keeps of its state once it failed for good: the retrieval checkpoint only with
 * the answer, as {@link checkpointOf} carries them (a case whose scoring failed is scored
 * again); alone, whole chunk texts would sit in every retained failed job for nothing.
 */
export function failedState(state: JobState): JobState {
  if (state.generation) return state;
  const { retrieval: _, ...kept } = state;
  return kept;
}

/** A job's completed stages, as a fresh state for a new job: nothing counted, nothing failed. */
export function checkpointOf(data: unknown): JobState | undefined {
  const { retrieval, generation } = readJobState(data);
  if (!retrieval || !generation) return undefined;
  return { attempt: 0, retrieval, generation };
}
