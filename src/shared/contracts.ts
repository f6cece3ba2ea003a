import { z } from 'zod';

import { assertionSchema, SCORE_METHODS } from './scoring/assertions.ts';

/**
 * The job contract other backends depend on (docs/ARCHITECTURE.md, "The job contract"). Keep it stable:
 * `schemas/answer-job.schema.json` is generated from these schemas (`npm run schema`).
 */

/** Queue of questions; job name {@link ANSWER_JOB}. */
export const QUESTIONS_QUEUE = 'questions';
/** Job name of a question in {@link QUESTIONS_QUEUE}. */
export const ANSWER_JOB = 'answer';
/** Queue of ingestion batches; job name {@link INGEST_JOB}. */
export const INGEST_QUEUE = 'ingest';
/** Job name of one ingestion batch in {@link INGEST_QUEUE}. */
export const INGEST_JOB = 'ingest';

export const MAX_QUESTION_CHARS = 8000;

/** What a result's `sources[].text` holds: an excerpt of the chunk (the default) or all of it. */
export const SOURCE_TEXT_MODES = ['excerpt', 'full'] as const;
export type SourceTextMode = (typeof SOURCE_TEXT_MODES)[number];

const question = z
  .string({
    error: (i) => (i.input === undefined ? 'question is required' : 'question must be a string'),
  })
  // Checks rather than refinements, so the exported JSON Schema carries them too.
  .regex(/\S/, 'question must not be empty')
  .max(MAX_QUESTION_CHARS, `question must be at most ${MAX_QUESTION_CHARS} characters`);

/**
 * Settings an evaluation variant changes (`askq eval run --variant name:json`); the worker
 * applies them to this job only. `model` must be one the worker allows (chat, fallback,
 * grader, ASKQ_ALLOWED_MODELS), else the job fails at once with the reason.
 */
export const answerVariantSchema = z.strictObject({
  model: z.string().min(1).max(200).optional(),
  temperature: z.number().min(0).max(2).optional(),
  topK: z.number().int().min(1).max(50).optional(),
  namespace: z.string().min(1).max(128).optional(),
  systemPrompt: z.string().min(1).max(8000).optional(),
});
export type AnswerVariant = z.infer<typeof answerVariantSchema>;

const answerJobFields = {
  question,
  namespace: z.string().min(1).max(128).optional(),
  topK: z.number().int().min(1).max(50).optional(),
  metadata: z.record(z.string(), z.string()).optional(),
  expected: z.union([z.string(), z.array(z.string())]).optional(),
  expectedSources: z.array(z.string()).optional(),
  /**
   * How to score the answer (src/shared/scoring/assertions.ts): contains, exact, regex, f1,
   * similarity, judge, hit@k, mrr, faithfulness, answer-relevancy, context-precision,
   * context-recall. With only `expected`, `contains` is implied; with `expectedSources`,
   * `hit@k` and `mrr`. Scores come back in the result's `scores`.
   */
  assert: z.array(assertionSchema).max(20).optional(),
  /**
   * `false`: never answer this question degraded (without context, or with the extractive
   * fallback when the chat model is down); the job fails instead, with the reason it would
   * have degraded. Evaluations set it. @defaultValue true
   */
  degrade: z.boolean().optional(),
  /**
   * The grader model for `judge` and the RAG metrics (`askq eval run --grader`); it must be
   * one the worker allows. @defaultValue the worker's ASKQ_GRADER_MODEL
   */
  grader: z.string().min(1).max(200).optional(),
  /** Settings of an evaluation variant, over the job's and the worker's. */
  variant: answerVariantSchema.optional(),
  /**
   * How much of each source's chunk text the result carries: `excerpt`, its first
   * ASKQ_SOURCE_TEXT_CHARS characters (none when that is 0), or `full`, the whole chunk.
   * Scoring sees the whole chunk either way. @defaultValue excerpt
   */
  sourceText: z.enum(SOURCE_TEXT_MODES).optional(),
};

/** Job data as producers (the API, the client) must send it: unknown fields are rejected. */
export const answerJobDataSchema = z.strictObject(answerJobFields);

/**
 * Job data as the worker reads it: unknown fields (trace context, a foreign producer's extras,
 * the worker's own resume state) are ignored.
 */
export const answerJobDataLenientSchema = z.object(answerJobFields);

export type AnswerJobData = z.infer<typeof answerJobDataSchema>;

/**
 * Key in a question's job data under which `askq serve` records who enqueued it. Producers
 * never set it (the strict schema refuses it); the worker ignores it except to release the
 * owner's pending quota.
 */
export const ORIGIN_KEY = '__origin';

/** Who enqueued a question through the API, and in which request. */
export const jobOriginSchema = z.object({
  /** The API key's fingerprint (`key:<16 hex>`), or `anonymous`; never the key itself. */
  owner: z.string().min(1).max(128),
  /** The request's `X-Request-Id`, so a backend's log line leads to the job and its trace. */
  requestId: z.string().min(1).max(128).optional(),
});
export type JobOrigin = z.infer<typeof jobOriginSchema>;

/** The origin recorded in a job's data, or undefined (a foreign producer's job, a bad one). */
export function readJobOrigin(data: unknown): JobOrigin | undefined {
  const raw =
    typeof data === 'object' && data !== null
      ? (data as Record<string, unknown>)[ORIGIN_KEY]
      : undefined;
  // Read for every finished job (releasePendingOnFinish); most have none, and a failed parse
  // builds an error.
  if (raw === undefined) return undefined;
  const parsed = jobOriginSchema.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}

export const sourceSchema = z.object({
  /** The document's id as ingested: a JSONL line's `id`, else the path relative to the ingested folder. */
  id: z.string(),
  /** The chunk's index within the document. */
  chunk: z.number().int().min(0),
  /** Similarity, higher is better. */
  score: z.number(),
  /**
   * The chunk's text: its first ASKQ_SOURCE_TEXT_CHARS characters (300 by default; empty when
   * 0), or the whole chunk when the job asked for `sourceText: "full"`.
   */
  text: z.string(),
  /** 1-based page of a PDF the chunk comes from; chunks never span two pages. */
  page: z.number().int().min(1).optional(),
  /** Nearest heading above the chunk in an HTML, Markdown or DOCX document. */
  section: z.string().optional(),
});
export type Source = z.infer<typeof sourceSchema>;

export const usageSchema = z.object({
  inputTokens: z.number().int().min(0),
  outputTokens: z.number().int().min(0),
});
export type Usage = z.infer<typeof usageSchema>;

export const timingsSchema = z.object({
  queueMs: z.number().min(0),
  retrieveMs: z.number().min(0),
  generateMs: z.number().min(0),
  totalMs: z.number().min(0),
});
export type Timings = z.infer<typeof timingsSchema>;

/** Why an answer is degraded (the fallback ladder in the README). */
export const degradedReasonSchema = z.enum([
  'retrieval_unavailable',
  'chat_unavailable',
  'chat_deadline',
  'chat_rate_limited',
]);
export type DegradedReason = z.infer<typeof degradedReasonSchema>;

/** `job.returnvalue` of an answer job. */
export const answerResultSchema = z.object({
  answer: z.string(),
  /** Best source first. */
  sources: z.array(sourceSchema),
  /**
   * True when a fallback answered: without retrieved context (retrieval down), or by the
   * extractive answerer over the sources (the chat model down); `degradedReason` says which.
   */
  degraded: z.boolean(),
  /** Why the answer is degraded; only when `degraded`. */
  degradedReason: degradedReasonSchema.optional(),
  /** The model that answered (`extractive-v1` for the chat fallback). */
  model: z.string(),
  usage: usageSchema,
  timings: timingsSchema,
  /** Attempts this job took, counted by the worker (1 when the first one succeeded). */
  attempts: z.number().int().min(1),
  /** W3C trace id of the job's trace; empty when tracing is off. */
  traceId: z.string(),
  /** Per assertion key (`contains`, `f1`, `hit@k`, `contains#2`…), in [0, 1]; only when the job had expectations. */
  scores: z.record(z.string(), z.number()).optional(),
  /**
   * Per key of a RAG metric or `judge`: how its score was computed (`llm`: by the grader model;
   * `lexical`: askq's deterministic approximation) and why it is what it is.
   */
  scoreDetails: z
    .record(z.string(), z.object({ method: z.enum(SCORE_METHODS), reason: z.string() }))
    .optional(),
  /** Tokens the grader used scoring this answer, apart from answering's `usage`. */
  graderUsage: usageSchema.optional(),
  /** The model that graded, when one did. */
  graderModel: z.string().optional(),
  /** True when the answer came from the answer cache (ASKQ_CACHE=on): no model was called. */
  cached: z.boolean().optional(),
  /** The OpenAI Batch API batch that answered (eval runs with `--batch`); absent for online answers. */
  batchId: z.string().optional(),
});
export type AnswerResult = z.infer<typeof answerResultSchema>;

/** One document chunk inside an ingest job. */
export const ingestChunkSchema = z.object({
  docId: z.string().min(1).max(512),
  chunk: z.number().int().min(0),
  text: z.string().min(1),
  metadata: z.record(z.string(), z.string()).optional(),
  /** 1-based PDF page the chunk comes from. */
  page: z.number().int().min(1).optional(),
  /** Nearest heading above the chunk (HTML, Markdown, DOCX). */
  section: z.string().max(1000).optional(),
});
export type IngestChunk = z.infer<typeof ingestChunkSchema>;

/**
 * Data of an ingest job: a batch of chunks of whole documents. A job without chunks only
 * deletes: a document listed with 0 chunks is removed from the store (`ingest --sync`).
 */
export const ingestJobDataSchema = z
  .object({
    namespace: z.string().min(1).max(128).optional(),
    chunks: z.array(ingestChunkSchema).max(1000),
    /** Per document, how many chunks it has now, so chunks beyond that (from an older version, or all for 0) are deleted. */
    documents: z.record(z.string(), z.number().int().min(0)),
  })
  .refine(
    (d) => d.chunks.length > 0 || Object.keys(d.documents).length > 0,
    'an ingest job needs chunks or documents',
  );
export type IngestJobData = z.infer<typeof ingestJobDataSchema>;

export const ingestResultSchema = z.object({
  upserted: z.number().int().min(0),
  deleted: z.number().int().min(0),
  namespace: z.string(),
});
export type IngestResult = z.infer<typeof ingestResultSchema>;

/** Formats zod issues as one line each: `topK: must be at most 50`. */
export function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}
