import type { Job } from 'bullmq';
import { z } from 'zod';

import { sourceSchema } from '../shared/contracts.ts';

/**
 * The worker's own bookkeeping, kept in the job's data under {@link STATE_KEY} so it survives
 * retries and crashes: attempts counted by askq (a foreign producer's job may say `attempts: 1`),
 * when the first attempt started, and completed stages' outputs. Producers never set it; the
 * worker ignores a malformed one rather than failing the job.
 */
export const STATE_KEY = '__askq';

const stateSchema = z.object({
  attempt: z.number().int().min(0).default(0),
  firstStartedAt: z.number().optional(),
  retrieval: z.object({ sources: z.array(sourceSchema), retrieveMs: z.number().min(0) }).optional(),
});

export type JobState = z.infer<typeof stateSchema>;

export function readJobState(data: unknown): JobState {
  const raw =
    typeof data === 'object' && data !== null
      ? (data as Record<string, unknown>)[STATE_KEY]
      : undefined;
  const parsed = stateSchema.safeParse(raw ?? {});
  return parsed.success ? parsed.data : { attempt: 0 };
}

/** Writes the state into the job's data, leaving the producer's fields as they were. */
export async function writeJobState(job: Job, state: JobState): Promise<void> {
  const data = typeof job.data === 'object' && job.data !== null ? job.data : {};
  await job.updateData({ ...data, [STATE_KEY]: state });
}
