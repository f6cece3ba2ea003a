import { z } from 'zod';

import { usageSchema } from '../contracts.ts';

/**
 * The batch lane of `askq eval run --batch`: names and shapes shared by the producer (which
 * enqueues, follows and cancels a run) and the workers (which run its jobs).
 */

/** Queue of the batch lane: a run's cases (job name `case`) and its `submit` and `poll` jobs. */
export const EVAL_BATCH_QUEUE = 'eval-batch';

export const BATCH_JOBS = { case: 'case', submit: 'submit', poll: 'poll' } as const;

/** What happens to cases a batch could not answer (429/5xx lines, an expired batch). */
export type BatchFallback = 'batch' | 'online';

/** The Batch API's limits per input file. */
export const BATCH_API_LIMITS = { maxRequests: 50_000, maxBytes: 200 * 1024 * 1024 } as const;

/** Batch statuses after which nothing changes any more. */
export const FINAL_BATCH_STATUSES = ['completed', 'failed', 'expired', 'cancelled'] as const;

/** Data of a `case` job: an answer job's fields plus the run it belongs to. */
export const batchCaseDataSchema = z.object({ runId: z.string().min(1) });

/** Data of a `submit` or `poll` job. */
export const batchChunkDataSchema = z.object({
  runId: z.string().min(1),
  chunk: z.number().int().min(0),
  /** Status checks so far (`poll`), pending requests last seen (`submit`). */
  polls: z.number().int().min(0).optional(),
  seen: z.number().int().min(0).optional(),
});
export type BatchChunkData = z.infer<typeof batchChunkDataSchema>;

/** One batch of a run, as kept in Redis and mirrored into run.json. */
export const batchRecordSchema = z.object({
  chunk: z.number().int().min(0),
  requests: z.number().int().min(0),
  fileId: z.string().optional(),
  batchId: z.string().optional(),
  /** `sealed` before submission, then the Batch API's status. */
  status: z.string(),
  submittedAt: z.number().optional(),
  counts: z.object({ total: z.number(), completed: z.number(), failed: z.number() }).optional(),
  /** Its answers and errors are handed to the cases. */
  collected: z.boolean().optional(),
  updatedAt: z.number(),
});
export type BatchRecord = z.infer<typeof batchRecordSchema>;

/** What a batch said about one case; the case job reads it when it wakes up. */
export const batchOutcomeSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('answer'),
    text: z.string(),
    model: z.string(),
    usage: usageSchema,
    finishReason: z.string().optional(),
    batchId: z.string(),
    /** How long the batch took, submission to collection. */
    waitedMs: z.number().min(0),
  }),
  z.object({ kind: z.literal('error'), message: z.string(), batchId: z.string().optional() }),
  z.object({ kind: z.literal('online'), reason: z.string() }),
]);
export type BatchOutcome = z.infer<typeof batchOutcomeSchema>;

/** Run-wide settings of the lane, written by the producer before the first case. */
export const batchRunMetaSchema = z.object({
  fallback: z.enum(['batch', 'online']),
  /** Unix ms; batches created before it cannot be this run's (bounds `GET /v1/batches`). */
  createdAt: z.number(),
});
export type BatchRunMeta = z.infer<typeof batchRunMetaSchema>;

/** Metadata askq puts on every batch, to find one whose id was lost in a crash. */
export function batchMetadata(runId: string, chunk: number): Record<string, string> {
  return { askq_run: runId, askq_chunk: String(chunk) };
}
