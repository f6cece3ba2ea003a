import { z } from 'zod';

import type { GraderPort } from '../ports.ts';
import type { LlmScore } from './llm-rag.ts';

/** What the judge grades: an answer to a question, against a rubric and optional reference. */
export interface JudgeInput {
  question: string;
  answer: string;
  rubric: string;
  /** Reference answers, when the case has them. */
  expected?: readonly string[];
  /** Retrieved sources, best first: the judge sees what the answerer saw. */
  sources?: readonly { id: string; chunk: number; text: string }[];
}

const verdictSchema = z.object({ score: z.number(), reason: z.string() });

/**
 * LLM-as-judge through the grader port (a model other than the answerer's unless configured
 * equal): the question, the answer, the retrieved sources and the reference go in, a score
 * from 0 to 10 and a reason come back in structured output; the score is scaled to [0, 1].
 */
export async function judgeAnswer(
  grader: GraderPort,
  input: JudgeInput,
  signal?: AbortSignal,
): Promise<LlmScore> {
  const sources = (input.sources ?? [])
    .map((s, i) => `[${i + 1}] (${s.id}#${s.chunk})\n${s.text.trim()}`)
    .join('\n\n');
  const out = await grader.grade(
    {
      name: 'judge',
      instructions:
        'You grade an answer given by a retrieval-augmented question answering system against ' +
        `a rubric. Rubric: ${input.rubric}\nGive a whole-number score from 0 (fails the rubric) ` +
        'to 10 (fully meets it) and one short sentence of reasons.',
      input:
        `Question: ${input.question}\n\nAnswer to grade: ${input.answer}` +
        (input.expected?.length ? `\n\nReference answer: ${input.expected.join('\n')}` : '') +
        (sources ? `\n\nRetrieved passages:\n${sources}` : ''),
      schema: verdictSchema,
    },
    signal,
  );
  return {
    score: Math.min(1, Math.max(0, out.value.score / 10)),
    reason: out.value.reason,
    model: out.model,
    usage: out.usage,
  };
}
