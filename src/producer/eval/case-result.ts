import {
  type AnswerResult,
  type DegradedReason,
  degradedReasonSchema,
  type Timings,
  type Usage,
} from '../../shared/contracts.ts';
import { failedAssertions, resolveAssertions } from '../../shared/scoring/assertions.ts';
import type { EvalCase } from './read-cases.ts';

export type CaseStatus = 'passed' | 'failed' | 'error';

/** One line of results.jsonl: a case (in one variant and repeat), its answer and how it scored. */
export interface CaseResult {
  /** Unique in the run: the case id, with `@<variant>` and `#<repeat>` when the run has them. */
  id: string;
  /** The question file's case id, when `id` carries a variant or repeat. */
  caseId?: string;
  /** The variant's name (`--variant name:json`). */
  variant?: string;
  /** 1-based repeat (`--repeat N`). */
  repeat?: number;
  where: string;
  question: string;
  expected?: string | string[];
  expectedSources?: string[];
  metadata?: Record<string, string>;
  status: CaseStatus;
  answer: string;
  /** Per assertion key, in [0, 1]. */
  scores: Record<string, number>;
  /** Assertion keys below their threshold (or unscored). */
  failedAssertions: string[];
  /** Per RAG metric or judge key: `llm` or `lexical`, and the reason for the score. */
  scoreDetails?: NonNullable<AnswerResult['scoreDetails']>;
  /** Tokens the grader used, apart from `usage` (answering). */
  graderUsage?: Usage;
  graderModel?: string;
  /** Best first; text left out (it is in the store). */
  sources: { id: string; chunk: number; score: number; page?: number; section?: string }[];
  degraded: boolean;
  /** Why the answer is degraded; for an error, why the case would have been (it opted out). */
  degradedReason?: DegradedReason;
  model: string;
  attempts: number;
  timings: Timings;
  usage: Usage;
  /** The worker's failure reason, for status `error`. */
  error?: string;
  traceId: string;
  jobId: string;
  finishedAt: number;
  /** The Batch API batch that answered (priced at batch rates); absent for online answers. */
  batchId?: string;
}

const NO_TIMINGS: Timings = { queueMs: 0, retrieveMs: 0, generateMs: 0, totalMs: 0 };

/**
 * A completed job as a case result: passed when every assertion's score reaches its threshold
 * (the rule in src/shared/scoring/assertions.ts, recomputed here from the worker's scores).
 */
export function completedResult(c: EvalCase, jobId: string, r: AnswerResult): CaseResult {
  const failed = failedAssertions(resolveAssertions(c), r.scores);
  return {
    ...caseFields(c),
    status: failed.length === 0 ? 'passed' : 'failed',
    answer: r.answer,
    scores: r.scores ?? {},
    failedAssertions: failed,
    ...(r.scoreDetails ? { scoreDetails: r.scoreDetails } : {}),
    ...(r.graderUsage ? { graderUsage: r.graderUsage, graderModel: r.graderModel ?? '' } : {}),
    sources: r.sources.map((s) => ({
      id: s.id,
      chunk: s.chunk,
      score: round(s.score),
      ...(s.page === undefined ? {} : { page: s.page }),
      ...(s.section === undefined ? {} : { section: s.section }),
    })),
    degraded: r.degraded,
    ...(r.degradedReason ? { degradedReason: r.degradedReason } : {}),
    model: r.model,
    attempts: r.attempts,
    timings: r.timings,
    usage: r.usage,
    traceId: r.traceId,
    jobId,
    finishedAt: Date.now(),
    ...(r.batchId ? { batchId: r.batchId } : {}),
  };
}

/** A job that failed for good (its retries spent, or a permanent error) as a case result. */
export function erroredResult(
  c: EvalCase,
  jobId: string,
  reason: string,
  fields: { attempts?: number; totalMs?: number } = {},
): CaseResult {
  return {
    ...caseFields(c),
    status: 'error',
    answer: '',
    scores: {},
    failedAssertions: [],
    sources: [],
    degraded: false,
    ...wouldHaveDegraded(reason),
    model: '',
    attempts: fields.attempts ?? 0,
    timings: { ...NO_TIMINGS, totalMs: fields.totalMs ?? 0 },
    usage: { inputTokens: 0, outputTokens: 0 },
    error: reason,
    traceId: '',
    jobId,
    finishedAt: Date.now(),
  };
}

/** The worker's reason for failing a case that opted out of degraded answers. */
const WOULD_DEGRADE = /would have answered degraded \(([a-z_]+)\)/;

function wouldHaveDegraded(reason: string): { degradedReason?: DegradedReason } {
  const parsed = degradedReasonSchema.safeParse(WOULD_DEGRADE.exec(reason)?.[1]);
  return parsed.success ? { degradedReason: parsed.data } : {};
}

function caseFields(c: EvalCase) {
  return {
    id: c.id,
    ...(c.caseId === undefined ? {} : { caseId: c.caseId }),
    ...(c.variant ? { variant: c.variant.name } : {}),
    ...(c.repeat === undefined ? {} : { repeat: c.repeat }),
    where: c.where,
    question: c.question,
    ...(c.expected === undefined ? {} : { expected: c.expected }),
    ...(c.expectedSources ? { expectedSources: c.expectedSources } : {}),
    ...(c.metadata ? { metadata: c.metadata } : {}),
  };
}

function round(n: number): number {
  return Math.round(n * 10_000) / 10_000;
}
