import { z } from 'zod';

import type { EmbeddingsPort, GradeOutput, GraderPort } from '../ports.ts';
import { cosineSimilarity } from './cosine-similarity.ts';
import { GraderReplyError } from './grader-errors.ts';
import { averagePrecision } from './lexical-rag.ts';

/**
 * The four RAG metrics graded by a grader model in structured output, after the published
 * (Ragas) definitions: faithfulness decomposes the answer into statements and verifies each
 * against the sources; answer relevancy has the grader write the questions the answer
 * answers and compares them with the real one by embedding; context precision has a verdict
 * per source and takes the average precision of the ranking; context recall attributes each
 * statement of the reference to the sources. The prompts are askq's own.
 */

/** What the grader sees of a case. */
export interface GradedCase {
  question: string;
  answer: string;
  /** Retrieved sources, best first. */
  sources: readonly { id: string; chunk: number; text: string }[];
  /** Reference answers. */
  reference: readonly string[];
}

/** A graded score with the grader's reason and what the grading cost. */
export interface LlmScore {
  score: number;
  reason: string;
  model: string;
  usage: { inputTokens: number; outputTokens: number };
}

const COMMON =
  'You grade the output of a retrieval-augmented question answering system. Judge only from ' +
  'the material given; do not use outside knowledge. Keep every reason to one short sentence.';

function passages(c: GradedCase): string {
  if (c.sources.length === 0) return '(no passages were retrieved)';
  return c.sources.map((s, i) => `[${i + 1}] (${s.id}#${s.chunk})\n${s.text.trim()}`).join('\n\n');
}

function quote(text: string): string {
  return `"${text.length > 80 ? `${text.slice(0, 77)}…` : text}"`;
}

const statementsSchema = z.object({
  statements: z.array(
    z.object({ statement: z.string(), supported: z.boolean(), reason: z.string() }),
  ),
});

function fromStatements(
  out: GradeOutput<z.infer<typeof statementsSchema>>,
  what: string,
): LlmScore {
  const list = out.value.statements;
  const base = { model: out.model, usage: out.usage };
  if (list.length === 0) return { ...base, score: 0, reason: `the grader found no ${what}` };
  const unsupported = list.filter((s) => !s.supported);
  const first = unsupported[0];
  return {
    ...base,
    score: (list.length - unsupported.length) / list.length,
    reason:
      `${list.length - unsupported.length} of ${list.length} ${what} supported` +
      (first ? `; not: ${quote(first.statement)} (${first.reason})` : ''),
  };
}

/** Faithfulness: the share of the answer's statements the sources support. */
export async function gradeFaithfulness(
  grader: GraderPort,
  c: GradedCase,
  signal?: AbortSignal,
): Promise<LlmScore> {
  const out = await grader.grade(
    {
      name: 'faithfulness',
      instructions:
        `${COMMON} Break the answer into short, self-contained factual statements (resolve ` +
        'pronouns; leave out citation markers). For each, decide whether the passages support ' +
        'it: supported only when it can be directly inferred from them.',
      input: `Question: ${c.question}\n\nAnswer: ${c.answer}\n\nPassages:\n${passages(c)}`,
      schema: statementsSchema,
    },
    signal,
  );
  return fromStatements(out, 'answer statements');
}

/** Context recall: the share of the reference's statements the sources support. */
export async function gradeContextRecall(
  grader: GraderPort,
  c: GradedCase,
  signal?: AbortSignal,
): Promise<LlmScore> {
  const out = await grader.grade(
    {
      name: 'context_recall',
      instructions:
        `${COMMON} Break the reference answer into short, self-contained statements. For ` +
        'each, decide whether it can be attributed to the passages (supported) or not.',
      input:
        `Question: ${c.question}\n\nReference answer: ${c.reference.join('\n')}\n\n` +
        `Passages:\n${passages(c)}`,
      schema: statementsSchema,
    },
    signal,
  );
  return fromStatements(out, 'reference statements');
}

const precisionSchema = z.object({
  verdicts: z.array(z.object({ passage: z.number(), useful: z.boolean(), reason: z.string() })),
});

/**
 * Context precision: a verdict per source (was it useful to arrive at the reference answer,
 * or at the answer when the case has no reference), then the average precision of the
 * ranking, so useful sources ranked first score higher.
 */
export async function gradeContextPrecision(
  grader: GraderPort,
  c: GradedCase,
  signal?: AbortSignal,
): Promise<LlmScore> {
  if (c.sources.length === 0) {
    return { score: 0, reason: 'no sources were retrieved', model: grader.model, usage: none() };
  }
  const target = c.reference.length > 0 ? 'reference answer' : 'answer';
  const out = await grader.grade(
    {
      name: 'context_precision',
      instructions:
        `${COMMON} For every numbered passage, give one verdict: useful when it contributes to ` +
        `arriving at the ${target}, else not. Reply with one verdict per passage, by its number.`,
      input:
        `Question: ${c.question}\n\n${target === 'answer' ? 'Answer' : 'Reference answer'}: ` +
        `${target === 'answer' ? c.answer : c.reference.join('\n')}\n\nPassages:\n${passages(c)}`,
      schema: precisionSchema,
    },
    signal,
  );
  const byPassage = new Map(out.value.verdicts.map((v) => [v.passage, v]));
  const verdicts = c.sources.map((_, i) => byPassage.get(i + 1));
  const missing = verdicts.findIndex((v) => v === undefined);
  if (missing >= 0) {
    throw new GraderReplyError(`context_precision reply has no verdict for passage ${missing + 1}`);
  }
  const useful = verdicts.map((v) => v!.useful);
  const ranks = useful.flatMap((u, i) => (u ? [i + 1] : []));
  return {
    score: averagePrecision(useful),
    reason:
      ranks.length === 0
        ? `no passage is useful (${verdicts[0]!.reason})`
        : `useful at rank ${ranks.join(', ')} of ${useful.length}`,
    model: out.model,
    usage: out.usage,
  };
}

const relevancySchema = z.object({
  questions: z.array(z.string()),
  noncommittal: z.boolean(),
  reason: z.string(),
});

/** Questions the grader writes per answer, as Ragas does by default. */
const GENERATED_QUESTIONS = 3;

/**
 * Answer relevancy: the grader writes the questions the answer would answer and says whether
 * the answer is noncommittal; the score is the mean cosine similarity of those questions to
 * the real one (embedded with the worker's embeddings), 0 for a noncommittal answer.
 */
export async function gradeAnswerRelevancy(
  grader: GraderPort,
  embeddings: Pick<EmbeddingsPort, 'embedDocuments'>,
  c: GradedCase,
  signal?: AbortSignal,
): Promise<LlmScore> {
  const out = await grader.grade(
    {
      name: 'answer_relevancy',
      instructions:
        `${COMMON} Write ${GENERATED_QUESTIONS} different questions that the answer below ` +
        'answers, in the language of the answer. Set noncommittal when the answer evades, ' +
        'declines or says it does not know.',
      input: `Answer: ${c.answer}`,
      schema: relevancySchema,
    },
    signal,
  );
  const base = { model: out.model, usage: out.usage };
  if (out.value.noncommittal) {
    return { ...base, score: 0, reason: `noncommittal: ${out.value.reason}` };
  }
  const questions = out.value.questions.filter((q) => q.trim() !== '');
  if (questions.length === 0) throw new GraderReplyError('answer_relevancy reply has no questions');
  const [asked, ...generated] = await embeddings.embedDocuments([c.question, ...questions]);
  const sims = generated.map((g) => Math.max(0, cosineSimilarity(asked!, g)));
  const score = sims.reduce((a, b) => a + b, 0) / sims.length;
  return { ...base, score, reason: `answers e.g. ${quote(questions[0]!)}` };
}

function none() {
  return { inputTokens: 0, outputTokens: 0 };
}
