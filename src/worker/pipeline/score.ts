import type { Source } from '../../shared/contracts.ts';
import type { ChatPort, EmbeddingsPort } from '../../shared/ports.ts';
import {
  type Assertion,
  resolveAssertions,
  type ResolvedAssertion,
} from '../../shared/scoring/assertions.ts';
import { cosineSimilarity } from '../../shared/scoring/cosine-similarity.ts';
import { judgeAnswer } from '../../shared/scoring/judge.ts';
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

export interface Scoring {
  /** Score per assertion key; an assertion whose scorer failed has no entry (it fails). */
  scores: Record<string, number>;
  /** Why a scorer failed, per assertion key. */
  errors: Record<string, string>;
  scoreMs: number;
}

/**
 * The `score` stage: scores the answer against the case's assertions
 * (src/shared/scoring/assertions.ts). Pure except for `similarity` (two embeddings calls
 * through the embeddings port) and `judge` (one chat call). A failing scorer does not fail the
 * job, whose answer is already paid for: its score is left out, which fails its assertion.
 * Returns undefined when the job has nothing to score against.
 */
export async function score(
  input: ScoreInput,
  ports: { embeddings: EmbeddingsPort; chat: ChatPort },
): Promise<Scoring | undefined> {
  const assertions = resolveAssertions(input);
  if (assertions.length === 0) return undefined;
  return withSpan(
    'score',
    { attributes: { 'askq.assertions': assertions.length } },
    async (span) => {
      const scoring = await scoreAll(input, assertions, ports);
      // Scores on the case's trace, so an evaluation's failures can be found in Jaeger.
      safeSetAttributes(span, {
        ...Object.fromEntries(
          Object.entries(scoring.scores).map(([k, v]) => [`askq.score.${k}`, v]),
        ),
        ...(Object.keys(scoring.errors).length > 0
          ? { 'askq.score.errors': Object.keys(scoring.errors) }
          : {}),
      });
      return scoring;
    },
  );
}

async function scoreAll(
  input: ScoreInput,
  assertions: ResolvedAssertion[],
  ports: { embeddings: EmbeddingsPort; chat: ChatPort },
): Promise<Scoring> {
  const started = performance.now();
  const retrieved = input.sources.map((s) => s.id);
  const expectedSources = input.expectedSources ?? [];
  const scores: Record<string, number> = {};
  const errors: Record<string, string> = {};
  await Promise.all(
    assertions.map(async (a) => {
      try {
        switch (a.type) {
          case 'contains':
            scores[a.key] = containsAll(input.answer, a.expected);
            break;
          case 'exact':
            scores[a.key] = exactMatch(input.answer, a.expected);
            break;
          case 'regex':
            scores[a.key] = regexMatch(input.answer, a.pattern ?? '');
            break;
          case 'f1':
            scores[a.key] = tokenF1(input.answer, a.expected);
            break;
          case 'hit@k':
            scores[a.key] = hitAtK(retrieved, expectedSources, a.k ?? retrieved.length);
            break;
          case 'mrr':
            scores[a.key] = reciprocalRank(retrieved, expectedSources);
            break;
          case 'similarity': {
            const [answer, ...refs] = await ports.embeddings.embedDocuments([
              input.answer,
              ...a.expected,
            ]);
            scores[a.key] = Math.max(0, ...refs.map((r) => cosineSimilarity(answer!, r)));
            break;
          }
          case 'judge': {
            const verdict = await judgeAnswer(ports.chat, {
              question: input.question,
              answer: input.answer,
              rubric: a.rubric ?? '',
              expected: a.expected,
            });
            scores[a.key] = verdict.score;
            break;
          }
        }
      } catch (err) {
        errors[a.key] = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      }
    }),
  );
  return { scores: round(scores), errors, scoreMs: performance.now() - started };
}

function round(scores: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(scores).map(([k, v]) => [k, Math.round(v * 10_000) / 10_000]),
  );
}
