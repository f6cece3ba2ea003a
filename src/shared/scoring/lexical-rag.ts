import { isCjkChar, tokenize } from './tokenize.ts';

/**
 * The four RAG metrics without a model: deterministic approximations by token and bigram
 * support, for the embedded default (no grader, no network). They follow the shape of the
 * published (Ragas) definitions with "is this statement supported" replaced by "how many of
 * its words and word pairs occur in the text it should come from". CJK text counts
 * characters and character pairs (see {@link tokenize}), so it needs no dictionary.
 *
 * Blind spots (also in the README): a paraphrase or a synonym counts as unsupported; a
 * negation or a changed number next to the right words counts as supported; relevancy cannot
 * tell an answer that uses other words than the question from an off-topic one.
 */

/** A score and a one-line reason. */
export interface LexicalScore {
  score: number;
  reason: string;
}

/** Text the metrics read: a statement, a passage, with their grams ready. */
interface Grams {
  /** Content words (not in {@link STOP_WORDS}) and every pair of adjacent tokens. */
  grams: string[];
}

/** Statements shorter than this many tokens carry no claim worth checking (`Yes.`, `[1]`). */
const MIN_STATEMENT_TOKENS = 2;
/** A statement or passage counts as supported / relevant from this share of grams on. */
export const LEXICAL_SUPPORT = 0.5;

/**
 * Function words of English plus common CJK particles: found in any passage, so they would
 * make every statement look supported. Pairs keep them (`not in` is not `in`).
 */
const STOP_WORDS = new Set(
  (
    'a an the and or but if of to in on at by for with from as is are was were be been being it its ' +
    'this that these those there here which who what when where why how do does did not no yes ' +
    'can could will would should may might must has have had i you he she we they them their our ' +
    'your my me us so than then also just about into over only very more most such 的 了 是 在 和 ' +
    'の は が を に で と も'
  ).split(' '),
);

/** Phrases of an answer that declines to answer (Ragas' "noncommittal"). */
const NONCOMMITTAL =
  /\b(i don't know|i do not know|not sure|cannot answer|can't answer|does not (answer|contain|say)|no (context|information) (was )?found)\b|不知道|无法回答|わかりません/iu;

/** Sentences of a text, citations such as `[1]` removed; too short ones dropped. */
export function splitStatements(text: string): string[] {
  return text
    .replace(/\s*\[\d+\]/g, '')
    .split(/(?<=[.!?。！？])\s*|\n+/u)
    .map((s) => s.trim())
    .filter((s) => tokenize(s).length >= MIN_STATEMENT_TOKENS);
}

/**
 * A token with a common English inflection removed (`waits`, `waited`, `waiting` → `wait`),
 * so a statement is not unsupported for its grammar. CJK characters stay as they are.
 */
function stem(token: string): string {
  if (token.length <= 4 || isCjkChar(token)) return token;
  return token.replace(/(ing|ed|es|s)$/, '');
}

/** Scoring tokens, stemmed. */
function terms(text: string): string[] {
  return tokenize(text).map(stem);
}

function gramsOf(text: string): Grams {
  const tokens = terms(text);
  const grams = tokens.filter((t) => !STOP_WORDS.has(t));
  for (let i = 0; i + 1 < tokens.length; i += 1) grams.push(`${tokens[i]} ${tokens[i + 1]}`);
  return { grams };
}

/** The share of a statement's grams found in `haystack` (a set of grams); 0 for none. */
function coverage(statement: Grams, haystack: ReadonlySet<string>): number {
  if (statement.grams.length === 0) return 0;
  return statement.grams.filter((g) => haystack.has(g)).length / statement.grams.length;
}

function gramSet(texts: readonly string[]): Set<string> {
  return new Set(texts.flatMap((t) => gramsOf(t).grams));
}

function mean(values: number[]): number {
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
}

function quote(text: string): string {
  return `"${text.length > 80 ? `${text.slice(0, 77)}…` : text}"`;
}

/**
 * Statement-level support for `statements` in `texts`: the mean coverage, and a reason naming
 * how many reach {@link LEXICAL_SUPPORT} and the least supported one.
 */
function support(statements: string[], texts: readonly string[], what: string): LexicalScore {
  if (statements.length === 0) return { score: 0, reason: `no ${what} to check` };
  if (texts.length === 0) return { score: 0, reason: 'no sources were retrieved' };
  const haystack = gramSet(texts);
  const covered = statements.map((s) => ({ s, c: coverage(gramsOf(s), haystack) }));
  const supported = covered.filter((x) => x.c >= LEXICAL_SUPPORT).length;
  const worst = covered.reduce((a, b) => (b.c < a.c ? b : a));
  return {
    score: mean(covered.map((x) => x.c)),
    reason:
      `${supported} of ${statements.length} ${what} mostly found in the sources` +
      (worst.c < LEXICAL_SUPPORT
        ? `; least: ${quote(worst.s)} (${Math.round(worst.c * 100)}%)`
        : ''),
  };
}

/** Faithfulness: how much of each of the answer's statements occurs in the retrieved sources. */
export function lexicalFaithfulness(answer: string, sources: readonly string[]): LexicalScore {
  return support(splitStatements(answer), sources, 'answer statements');
}

/** Context recall: how much of each of the reference's statements occurs in the sources. */
export function lexicalContextRecall(
  reference: readonly string[],
  sources: readonly string[],
): LexicalScore {
  const statements = reference.flatMap((r) => {
    const split = splitStatements(r);
    // A short reference ("1, 2, 4 and 8 seconds") is one statement even without a full stop.
    return split.length > 0 ? split : r.trim() ? [r.trim()] : [];
  });
  return support(statements, sources, 'reference statements');
}

/**
 * Answer relevancy: the share of the question's content words the answer uses; 0 for an
 * answer that declines to answer.
 */
export function lexicalAnswerRelevancy(question: string, answer: string): LexicalScore {
  if (NONCOMMITTAL.test(answer)) return { score: 0, reason: 'the answer declines to answer' };
  const words = [...new Set(terms(question).filter((t) => !STOP_WORDS.has(t)))];
  if (words.length === 0) return { score: 0, reason: 'the question has no content words' };
  const said = new Set(terms(answer));
  const used = words.filter((w) => said.has(w));
  const missing = words.filter((w) => !said.has(w));
  return {
    score: used.length / words.length,
    reason:
      `the answer uses ${used.length} of the question's ${words.length} content words` +
      (missing.length > 0 ? `; not: ${missing.slice(0, 5).join(', ')}` : ''),
  };
}

/**
 * Context precision: average precision of the ranked sources, a source being relevant when
 * its id is one of `expectedSources` (when the case lists them), else when it holds at least
 * {@link LEXICAL_SUPPORT} of one of the reference's statements (the answer's, without a reference).
 */
export function lexicalContextPrecision(
  sources: readonly { id: string; text: string }[],
  reference: readonly string[],
  expectedSources?: readonly string[],
): LexicalScore {
  if (sources.length === 0) return { score: 0, reason: 'no sources were retrieved' };
  const wanted = expectedSources && expectedSources.length > 0 ? new Set(expectedSources) : null;
  const statements = reference.flatMap((r) => {
    const split = splitStatements(r);
    return split.length > 0 ? split : r.trim() ? [r.trim()] : [];
  });
  const relevant = sources.map((s) => {
    if (wanted) return wanted.has(s.id);
    const grams = gramSet([s.text]);
    return statements.some((st) => coverage(gramsOf(st), grams) >= LEXICAL_SUPPORT);
  });
  const score = averagePrecision(relevant);
  const ranks = relevant.flatMap((r, i) => (r ? [i + 1] : []));
  return {
    score,
    reason:
      ranks.length === 0
        ? `none of the ${sources.length} sources is relevant`
        : `relevant at rank ${ranks.join(', ')} of ${sources.length}` +
          (wanted ? ' (by expectedSources)' : ''),
  };
}

/**
 * Average precision of a ranking given each rank's relevance: the mean, over relevant ranks
 * k, of precision at k. 0 when nothing is relevant.
 */
export function averagePrecision(relevant: readonly boolean[]): number {
  let hits = 0;
  let sum = 0;
  relevant.forEach((r, i) => {
    if (!r) return;
    hits += 1;
    sum += hits / (i + 1);
  });
  return hits === 0 ? 0 : sum / hits;
}
