import { z } from 'zod';

import { answerJobDataSchema, answerResultSchema } from '../../shared/contracts.ts';

/**
 * The HTTP API's request and response schemas. The handlers validate with these and the
 * OpenAPI document at `/docs` is generated from them, so the two cannot drift apart.
 */

/** Limits of a question's `metadata`: a flat map of strings, small enough to live in a job. */
export const METADATA_LIMITS = { maxEntries: 32, maxKeyChars: 64, maxValueChars: 1024 } as const;

/** Longest `?wait=` a `GET /v1/questions/:id` may hold the request for. */
export const MAX_WAIT_SECONDS = 60;

const metadataSchema = z
  .record(
    z.string().min(1).max(METADATA_LIMITS.maxKeyChars),
    z.string().max(METADATA_LIMITS.maxValueChars),
  )
  .refine((m) => Object.keys(m).length <= METADATA_LIMITS.maxEntries, {
    message: `metadata must have at most ${METADATA_LIMITS.maxEntries} entries`,
  })
  .describe('A flat map of strings returned with the job; no nesting.');

/**
 * One question as a caller sends it: the job contract's caller fields and nothing else.
 * Strict, so a caller can never set a job id, attempts, priority, model or any job option.
 */
export const questionRequestSchema = answerJobDataSchema
  .pick({ question: true, namespace: true, topK: true, degrade: true, sourceText: true })
  .extend({ metadata: metadataSchema.optional() })
  .meta({ id: 'QuestionRequest' });
export type QuestionRequest = z.infer<typeof questionRequestSchema>;

/** `POST /v1/questions/batch`: 1..`maxBatch` questions, enqueued atomically. */
export function batchRequestSchema(maxBatch: number) {
  return z.array(questionRequestSchema).min(1).max(maxBatch);
}

/** Where a question is; the same states BullMQ reports. */
export const questionStateSchema = z.enum([
  'waiting',
  'delayed',
  'active',
  'completed',
  'failed',
  'prioritized',
  'waiting-children',
  'unknown',
]);

export const questionLinksSchema = z.object({
  /** The question's status. */
  self: z.string(),
  /** The status, held until the answer is there (long poll). */
  wait: z.string(),
});

export const enqueuedSchema = z
  .object({ id: z.string(), status: questionStateSchema, links: questionLinksSchema })
  .meta({ id: 'Enqueued' });
export type Enqueued = z.infer<typeof enqueuedSchema>;

export const batchEnqueuedSchema = z
  .object({ ids: z.array(z.string()).describe('Job ids, in the order of the request.') })
  .meta({ id: 'BatchEnqueued' });

export const questionStatusSchema = z
  .object({
    id: z.string(),
    state: questionStateSchema,
    /** Attempts started so far. */
    attempts: z.number().int(),
    result: answerResultSchema.optional(),
    error: z.string().optional(),
    /** Epoch milliseconds. */
    createdAt: z.number(),
    finishedAt: z.number().optional(),
  })
  .meta({ id: 'QuestionStatus' });

export const cancelledSchema = z
  .object({
    id: z.string(),
    /** The state the question was in when cancelled. */
    state: questionStateSchema,
    outcome: z
      .enum(['removed', 'aborting'])
      .describe(
        '`removed`: it had not started and is gone; `aborting`: its worker was asked to abort it (it ends failed with reason `cancelled`).',
      ),
  })
  .meta({ id: 'Cancelled' });

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string().optional(),
    requestId: z.string().optional(),
    errors: z.array(z.object({ in: z.string(), path: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details (application/problem+json).' });

export const questionIdParamsSchema = z.strictObject({
  id: z.string().min(1).max(256),
});

export const waitQuerySchema = z.strictObject({
  wait: z.coerce
    .number()
    .min(0)
    .max(MAX_WAIT_SECONDS)
    .optional()
    .describe(`Seconds to hold the request until the question finishes (≤ ${MAX_WAIT_SECONDS}).`),
});

/**
 * `Idempotency-Key`: visible ASCII, so it is safe in logs and as part of a job id. The same
 * key from the same caller returns the same job and enqueues nothing new.
 */
export const idempotencyHeadersSchema = z.object({
  'idempotency-key': z
    .string()
    .min(1)
    .max(255)
    .regex(/^[\x21-\x7e]+$/, 'Idempotency-Key must be 1..255 visible ASCII characters')
    .optional(),
});
