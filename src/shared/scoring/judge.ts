import { AskqError } from '../errors.ts';
import type { ChatOutput, ChatPort } from '../ports.ts';

/** What the judge grades: an answer to a question, against a rubric and optional reference. */
export interface JudgeInput {
  question: string;
  answer: string;
  rubric: string;
  /** Reference answers, when the case has them. */
  expected?: readonly string[];
}

export interface JudgeVerdict {
  /** In [0, 1]. */
  score: number;
  /** The judge's reply, for debugging. */
  reply: string;
  usage: ChatOutput['usage'];
}

/** The judge's reply held no score. */
export class JudgeReplyError extends AskqError {
  override name = 'JudgeReplyError';
}

/**
 * LLM-as-judge through the chat port: the answer (and the reference) go in as numbered
 * passages, the rubric as the question, and the model is asked for a score from 0 to 10.
 * Going through the same port as answering means the judge gets the worker's breaker,
 * timeout and provider choice; it costs one chat call per judged case, hence opt-in.
 */
export async function judgeAnswer(
  chat: Pick<ChatPort, 'answer'>,
  input: JudgeInput,
  signal?: AbortSignal,
): Promise<JudgeVerdict> {
  const context = [
    { docId: 'question', chunk: 0, score: 1, text: `Question: ${input.question}` },
    { docId: 'answer', chunk: 0, score: 1, text: `Answer to grade: ${input.answer}` },
    ...(input.expected ?? []).map((e, i) => ({
      docId: 'reference',
      chunk: i,
      score: 1,
      text: `Reference answer: ${e}`,
    })),
  ];
  const question =
    'You are grading the answer in passage [2] to the question in passage [1]' +
    (input.expected?.length ? ', with the reference answer(s) in the later passages' : '') +
    `. Rubric: ${input.rubric}\n` +
    'Reply with "SCORE: n" where n is a whole number from 0 (fails the rubric) to 10 (fully meets it), then one sentence of reasons.';
  const output = await chat.answer({ question, context }, signal);
  return { score: parseJudgeScore(output.text), reply: output.text, usage: output.usage };
}

/**
 * The score in a judge's reply, scaled to [0, 1]: `SCORE: 7` (out of 10), else `PASS`/`FAIL`.
 * Throws {@link JudgeReplyError} when neither is there.
 */
export function parseJudgeScore(reply: string): number {
  const scored = /score\s*[:=]?\s*(\d+(?:\.\d+)?)\s*(?:\/\s*(\d+))?/i.exec(reply);
  if (scored) {
    const value = Number(scored[1]);
    const outOf = scored[2] ? Number(scored[2]) : value <= 1 && scored[1]!.includes('.') ? 1 : 10;
    return Math.min(1, Math.max(0, value / outOf));
  }
  if (/\bpass(ed|es)?\b/i.test(reply)) return 1;
  if (/\bfail(ed|s)?\b/i.test(reply)) return 0;
  throw new JudgeReplyError(`judge reply has no score: ${reply.slice(0, 200)}`);
}
