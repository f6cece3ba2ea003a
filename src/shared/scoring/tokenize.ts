/**
 * Tokenisation for answer scoring (token F1, exact match). Text is NFKC-normalised and
 * lower-cased; punctuation is dropped. Scripts written without spaces (Han, Hiragana, Katakana,
 * Hangul) yield one token per character, as SQuAD-style F1 does for Chinese (there is no
 * dictionary to find word boundaries, and characters are what graders agree on); other scripts
 * yield words. Unlike retrieval's features, nothing is dropped or folded: a score must not
 * reward an answer for words it does not contain.
 */

const CJK_CHAR = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/v;

/** Either one CJK character or a run of letters, marks and digits of another script. */
const TOKEN =
  /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]|[[\p{L}\p{M}\p{N}]--[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]]+/gv;

/** NFKC, lower case, whitespace collapsed: the form `exact` and `contains` compare. */
export function normalizeAnswer(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
}

/** Scoring tokens in text order, with repeats. */
export function tokenize(text: string): string[] {
  return [...text.normalize('NFKC').toLowerCase().matchAll(TOKEN)].map(([t]) => t);
}

/** True when the character belongs to a script written without spaces. */
export function isCjkChar(char: string): boolean {
  return CJK_CHAR.test(char);
}
