import { z } from 'zod';

/**
 * Assertions a case is scored by, and the pass rule. Shared by the worker (which computes the
 * scores in its `score` stage) and the eval runner (which decides passed/failed from them), so
 * both read a case the same way.
 */

export const ASSERTION_TYPES = [
  'contains',
  'exact',
  'regex',
  'f1',
  'similarity',
  'judge',
  'hit@k',
  'mrr',
  'faithfulness',
  'answer-relevancy',
  'context-precision',
  'context-recall',
] as const;
export type AssertionType = (typeof ASSERTION_TYPES)[number];

/** The RAG metrics: graded by the grader model (`llm`), else approximated (`lexical`). */
export const RAG_METRICS = [
  'faithfulness',
  'answer-relevancy',
  'context-precision',
  'context-recall',
] as const satisfies readonly AssertionType[];
export type RagMetric = (typeof RAG_METRICS)[number];

/** How a score was computed: by the grader model, or by askq's deterministic approximation. */
export const SCORE_METHODS = ['llm', 'lexical'] as const;
export type ScoreMethod = (typeof SCORE_METHODS)[number];

/** True for the four RAG metrics. */
export function isRagMetric(type: AssertionType): type is RagMetric {
  return (RAG_METRICS as readonly string[]).includes(type);
}

/**
 * Threshold a score must reach for its assertion to pass, per type. `mrr` is reported, not
 * gated. `judge` is the judge's 0..10 scaled to 0..1.
 */
export const DEFAULT_THRESHOLDS = {
  contains: 1,
  exact: 1,
  regex: 1,
  f1: 0.5,
  similarity: 0.8,
  judge: 0.7,
  'hit@k': 1,
  mrr: 0,
  faithfulness: 0.7,
  'answer-relevancy': 0.5,
  'context-precision': 0.5,
  'context-recall': 0.5,
} as const satisfies Record<AssertionType, number>;

/** One assertion of a case, as a job or a question file carries it. */
export const assertionSchema = z.strictObject({
  type: z.enum(ASSERTION_TYPES),
  /**
   * What to compare with: the expected string(s) for contains/exact/f1/similarity (default: the
   * case's `expected`), the pattern for regex, `k` for hit@k (default: every source returned).
   */
  value: z
    .union([z.string().min(1), z.array(z.string().min(1)).min(1), z.number().int().min(1)])
    .optional(),
  /** Score needed to pass, in [0, 1]. @defaultValue {@link DEFAULT_THRESHOLDS} of the type */
  threshold: z.number().min(0).max(1).optional(),
  /** What the judge grades against; required for `judge`. */
  rubric: z.string().min(1).max(4000).optional(),
  /**
   * For the RAG metrics: `llm` (the grader model) or `lexical` (deterministic, no model).
   * @defaultValue `llm` when the worker has a grader model, else `lexical`
   */
  method: z.enum(SCORE_METHODS).optional(),
});
export type Assertion = z.infer<typeof assertionSchema>;

/** The case fields assertions are resolved from. */
export interface ScoredCase {
  expected?: string | string[] | undefined;
  expectedSources?: string[] | undefined;
  assert?: Assertion[] | undefined;
}

/** An assertion with everything filled in; `key` names its score in `scores`. */
export interface ResolvedAssertion {
  key: string;
  type: AssertionType;
  threshold: number;
  /** Expected strings (contains, exact, f1, similarity, judge references). */
  expected: string[];
  /** Regex pattern. */
  pattern?: string;
  /** hit@k's k; undefined means every source returned. */
  k?: number;
  rubric?: string;
  /** The method asked for (RAG metrics); undefined lets the worker choose. */
  method?: ScoreMethod;
}

/**
 * The assertions a case is scored by. Explicit `assert` entries come first; when a case has
 * `expected` and no answer assertion (string types, judge, the RAG metrics, which read
 * `expected` as the reference), `contains` is added; when it has `expectedSources` and
 * no retrieval assertion, `hit@k` and `mrr` are added. Score keys are the type, with `#2`,
 * `#3`… for repeats (`contains`, `contains#2`).
 */
export function resolveAssertions(c: ScoredCase): ResolvedAssertion[] {
  // Most jobs carry none of the three: nothing to build for them.
  if (c.expected === undefined && c.assert === undefined && c.expectedSources === undefined) {
    return [];
  }
  const expected = c.expected === undefined ? [] : [c.expected].flat();
  const explicit = c.assert ?? [];
  const list: Assertion[] = [...explicit];
  const has = (types: AssertionType[]) => explicit.some((a) => types.includes(a.type));
  const answerTypes: AssertionType[] = ['contains', 'exact', 'regex', 'f1', 'similarity', 'judge'];
  if (expected.length > 0 && !has([...answerTypes, ...RAG_METRICS])) {
    list.push({ type: 'contains' });
  }
  if ((c.expectedSources?.length ?? 0) > 0 && !has(['hit@k', 'mrr'])) {
    list.push({ type: 'hit@k' }, { type: 'mrr' });
  }
  const seen = new Map<string, number>();
  return list.map((a) => {
    const n = (seen.get(a.type) ?? 0) + 1;
    seen.set(a.type, n);
    const strings =
      typeof a.value === 'string' ? [a.value] : Array.isArray(a.value) ? a.value : expected;
    return {
      key: n === 1 ? a.type : `${a.type}#${n}`,
      type: a.type,
      threshold: a.threshold ?? DEFAULT_THRESHOLDS[a.type],
      expected: strings,
      ...(a.type === 'regex' && typeof a.value === 'string' ? { pattern: a.value } : {}),
      ...(a.type === 'hit@k' && typeof a.value === 'number' ? { k: a.value } : {}),
      ...(a.rubric ? { rubric: a.rubric } : {}),
      ...(a.method ? { method: a.method } : {}),
    };
  });
}

/** Problems that make a case's assertions unusable (a bad regex, judge without rubric). */
export function assertionProblems(c: ScoredCase): string[] {
  const problems: string[] = [];
  for (const a of resolveAssertions(c)) {
    if (a.type === 'regex') {
      if (a.pattern === undefined) problems.push(`${a.key}: value must be the pattern`);
      else {
        try {
          new RegExp(a.pattern, 'u');
        } catch (err) {
          problems.push(`${a.key}: ${(err as Error).message}`);
        }
      }
    }
    if (a.type === 'judge' && !a.rubric) problems.push(`${a.key}: rubric is required`);
    if (['contains', 'exact', 'f1', 'similarity'].includes(a.type) && a.expected.length === 0) {
      problems.push(`${a.key}: needs a value or the case's expected`);
    }
    if ((a.type === 'hit@k' || a.type === 'mrr') && (c.expectedSources?.length ?? 0) === 0) {
      problems.push(`${a.key}: needs expectedSources`);
    }
    if (a.type === 'context-recall' && a.expected.length === 0) {
      problems.push(`${a.key}: needs a value or the case's expected (the reference answer)`);
    }
    if (a.method !== undefined && !isRagMetric(a.type)) {
      problems.push(`${a.key}: method applies only to ${RAG_METRICS.join(', ')}`);
    }
  }
  return problems;
}

/**
 * The pass rule: a case passes when every one of its assertions has a score at or above its
 * threshold. A missing score (the scorer failed) fails its assertion. A case with no
 * assertions passes when it was answered. Returns the keys that failed.
 */
export function failedAssertions(
  assertions: readonly ResolvedAssertion[],
  scores: Readonly<Record<string, number>> | undefined,
): string[] {
  return assertions
    .filter((a) => {
      const s = scores?.[a.key];
      return s === undefined || !(s >= a.threshold);
    })
    .map((a) => a.key);
}
