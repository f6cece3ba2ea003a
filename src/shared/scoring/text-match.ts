import { normalizeAnswer, tokenize } from './tokenize.ts';

/**
 * String-matching scores, each in [0, 1]. Comparisons work on {@link normalizeAnswer}'s form
 * (NFKC, lower case, collapsed whitespace); `exact` also ignores punctuation and a trailing
 * citation such as `[1]`, which RAG answers carry.
 */

/** 1 when the answer equals one of the expected strings (normalised), else 0. */
export function exactMatch(answer: string, expected: readonly string[]): number {
  const a = tokenize(stripCitations(answer)).join(' ');
  return expected.some((e) => tokenize(e).join(' ') === a) ? 1 : 0;
}

/** The fraction of the expected strings the answer contains (normalised); 1 when it has them all. */
export function containsAll(answer: string, expected: readonly string[]): number {
  if (expected.length === 0) return 1;
  const a = normalizeAnswer(answer);
  const found = expected.filter((e) => a.includes(normalizeAnswer(e))).length;
  return found / expected.length;
}

/** 1 when the pattern matches the answer, else 0. Throws a SyntaxError for a bad pattern. */
export function regexMatch(answer: string, pattern: string, flags = 'u'): number {
  return new RegExp(pattern, flags).test(answer) ? 1 : 0;
}

function stripCitations(text: string): string {
  return text.replace(/\[\d+\]/g, ' ');
}
