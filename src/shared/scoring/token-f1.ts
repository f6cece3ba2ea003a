import { tokenize } from './tokenize.ts';

/**
 * SQuAD-style token F1 between an answer and the best-matching expected string: harmonic mean
 * of token precision and recall, counting repeated tokens as often as both sides have them.
 * CJK text counts characters (see {@link tokenize}). 1 when both are empty, 0 when one is.
 */
export function tokenF1(answer: string, expected: readonly string[]): number {
  const got = tokenize(answer);
  return expected.reduce((best, e) => Math.max(best, f1(got, tokenize(e))), 0);
}

function f1(got: string[], want: string[]): number {
  if (got.length === 0 || want.length === 0) return got.length === want.length ? 1 : 0;
  const counts = new Map<string, number>();
  for (const t of want) counts.set(t, (counts.get(t) ?? 0) + 1);
  let common = 0;
  for (const t of got) {
    const left = counts.get(t) ?? 0;
    if (left > 0) {
      common += 1;
      counts.set(t, left - 1);
    }
  }
  if (common === 0) return 0;
  const precision = common / got.length;
  const recall = common / want.length;
  return (2 * precision * recall) / (precision + recall);
}
