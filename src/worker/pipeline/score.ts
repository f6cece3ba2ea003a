import type { Source, Usage } from '../../shared/contracts.ts';
import type { EmbeddingsPort, GraderPort } from '../../shared/ports.ts';
import {
  type Assertion,
  isRagMetric,
  resolveAssertions,
  type ResolvedAssertion,
  type ScoreMethod,
} from '../../shared/scoring/assertions.ts';
import { cosineSimilarity } from '../../shared/scoring/cosine-similarity.ts';
import { GraderMissingError, NO_GRADER_REASON } from '../../shared/scoring/grader-errors.ts';
import { judgeAnswer } from '../../shared/scoring/judge.ts';
import {
  lexicalAnswerRelevancy,
  lexicalContextPrecision,
  lexicalContextRecall,
  lexicalFaithfulness,
} from '../../shared/scoring/lexical-rag.ts';
import {
  gradeAnswerRelevancy,
  gradeContextPrecision,
  gradeContextRecall,
  type GradedCase,
  gradeFaithfulness,
  type LlmScore,
} from '../../shared/scoring/llm-rag.ts';
import { hitAtK, reciprocalRank } from '../../shared/scoring/retrieval-metrics.ts';
import { containsAll, exactMatch, regexMatch } from '../../shared/scoring/text-match.ts';
import { tokenF1 } from '../../shared/scoring/token-f1.ts';
import { safeSetAttributes, withSpan } from '../../shared/telemetry/spans.ts';

export interface ScoreInput {
  question: string;
  answer: string;
  sources: Source[];
  expected?: string | string[] | undefined;
  expectedSources?: string[] | undefined;
  assert?: Assertion[] | undefined;
}

/** How a graded score (a RAG metric, judge) was computed, and why it is what it is. */
export interface ScoreDetail {
  method: ScoreMethod;
  reason: string;
}

export interface Scoring {
  /** Score per assertion key. */
  scores: Record<string, number>;
  /** Per key of a RAG metric or judge: method and reason. */
  details: Record<string, ScoreDetail>;
  /** Tokens the grader used, when it was called. */
  graderUsage?: Usage;
  /** The model that graded, when the grader was called. */
  graderModel?: string;
  scoreMs: number;
}

export interface ScorePorts {
  embeddings: EmbeddingsPort;
  /** The grader model; absent when the worker has none. */
  grader?: GraderPort | undefined;
}

/**
 * Why the job cannot be scored with (or without) this grader, before anything is paid for:
 * `judge` and `method: "llm"` need one.
 */
export function graderProblem(
  c: Pick<ScoreInput, 'expected' | 'expectedSources' | 'assert'>,
  hasGrader: boolean,
): string | undefined {
  if (hasGrader) return undefined;
  const needs = resolveAssertions(c).find((a) => a.type === 'judge' || a.method === 'llm');
  if (!needs) return undefined;
  return needs.type === 'judge'
    ? NO_GRADER_REASON
    : `${needs.key} with method "llm" needs a grader model (ASKQ_GRADER_MODEL)`;
}

/**
 * The `score` stage: scores the answer against the case's assertions
 * (src/shared/scoring/assertions.ts). String and retrieval scores are pure; `similarity` calls
 * the embeddings port; `judge` and the RAG metrics with method `llm` call the grader port,
 * the RAG metrics without a grader are lexical. A scorer that fails throws (the first failure
 * wins), so the job retries or fails with the reason: a scoring failure is never a score.
 * Returns undefined when the job has nothing to score against.
 */
export async function score(input: ScoreInput, ports: ScorePorts): Promise<Scoring | undefined> {
  const assertions = resolveAssertions(input);
  if (assertions.length === 0) return undefined;
  return withSpan(
    'score',
    { attributes: { 'askq.assertions': assertions.length } },
    async (span) => {
      const scoring = await scoreAll(input, assertions, ports);
      // Scores on the case's trace, so an evaluation's failures can be found in Jaeger.
      safeSetAttributes(
        span,
        Object.fromEntries(Object.entries(scoring.scores).map(([k, v]) => [`askq.score.${k}`, v])),
      );
      return scoring;
    },
  );
}

type Scored = { score: number; detail?: ScoreDetail; graded?: LlmScore };

async function scoreAll(
  input: ScoreInput,
  assertions: ResolvedAssertion[],
  ports: ScorePorts,
): Promise<Scoring> {
  const started = performance.now();
  const settled = await Promise.allSettled(assertions.map((a) => scoreOne(input, a, ports)));
  const failure = settled.find((s) => s.status === 'rejected');
  if (failure) throw failure.reason;
  const scores: Record<string, number> = {};
  const details: Record<string, ScoreDetail> = {};
  const usage = { inputTokens: 0, outputTokens: 0 };
  let graderModel: string | undefined;
  settled.forEach((s, i) => {
    if (s.status !== 'fulfilled') return;
    const key = assertions[i]!.key;
    scores[key] = Math.round(s.value.score * 10_000) / 10_000;
    if (s.value.detail) details[key] = s.value.detail;
    if (s.value.graded) {
      usage.inputTokens += s.value.graded.usage.inputTokens;
      usage.outputTokens += s.value.graded.usage.outputTokens;
      graderModel = s.value.graded.model;
    }
  });
  return {
    scores,
    details,
    ...(graderModel ? { graderUsage: usage, graderModel } : {}),
    scoreMs: performance.now() - started,
  };
}

async function scoreOne(
  input: ScoreInput,
  a: ResolvedAssertion,
  ports: ScorePorts,
): Promise<Scored> {
  const retrieved = input.sources.map((s) => s.id);
  const expectedSources = input.expectedSources ?? [];
  switch (a.type) {
    case 'contains':
      return { score: containsAll(input.answer, a.expected) };
    case 'exact':
      return { score: exactMatch(input.answer, a.expected) };
    case 'regex':
      return { score: regexMatch(input.answer, a.pattern ?? '') };
    case 'f1':
      return { score: tokenF1(input.answer, a.expected) };
    case 'hit@k':
      return { score: hitAtK(retrieved, expectedSources, a.k ?? retrieved.length) };
    case 'mrr':
      return { score: reciprocalRank(retrieved, expectedSources) };
    case 'similarity': {
      const [answer, ...refs] = await ports.embeddings.embedDocuments([
        input.answer,
        ...a.expected,
      ]);
      return { score: Math.max(0, ...refs.map((r) => cosineSimilarity(answer!, r))) };
    }
    case 'judge': {
      if (!ports.grader) throw new GraderMissingError(NO_GRADER_REASON);
      const graded = await judgeAnswer(ports.grader, {
        question: input.question,
        answer: input.answer,
        rubric: a.rubric ?? '',
        expected: a.expected,
        sources: input.sources,
      });
      return llm(graded);
    }
    default:
      if (!isRagMetric(a.type)) throw new TypeError(`no scorer for ${a.type}`);
      return scoreRag(input, a, ports);
  }
}

function llm(graded: LlmScore): Scored {
  return { score: graded.score, detail: { method: 'llm', reason: graded.reason }, graded };
}

async function scoreRag(
  input: ScoreInput,
  a: ResolvedAssertion,
  ports: ScorePorts,
): Promise<Scored> {
  const method = a.method ?? (ports.grader ? 'llm' : 'lexical');
  const texts = input.sources.map((s) => s.text);
  if (method === 'lexical') {
    const lexical =
      a.type === 'faithfulness'
        ? lexicalFaithfulness(input.answer, texts)
        : a.type === 'answer-relevancy'
          ? lexicalAnswerRelevancy(input.question, input.answer)
          : a.type === 'context-recall'
            ? lexicalContextRecall(a.expected, texts)
            : lexicalContextPrecision(
                input.sources,
                a.expected.length > 0 ? a.expected : [input.answer],
                input.expectedSources,
              );
    return { score: lexical.score, detail: { method, reason: lexical.reason } };
  }
  const grader = ports.grader;
  if (!grader) {
    throw new GraderMissingError(
      `${a.key} with method "llm" needs a grader model (ASKQ_GRADER_MODEL)`,
    );
  }
  const c: GradedCase = {
    question: input.question,
    answer: input.answer,
    sources: input.sources,
    reference: a.expected,
  };
  switch (a.type) {
    case 'faithfulness':
      return llm(await gradeFaithfulness(grader, c));
    case 'context-recall':
      return llm(await gradeContextRecall(grader, c));
    case 'context-precision':
      return llm(await gradeContextPrecision(grader, c));
    default:
      return llm(await gradeAnswerRelevancy(grader, ports.embeddings, c));
  }
}
