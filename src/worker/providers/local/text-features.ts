/**
 * Tokenisation shared by the local embeddings and the extractive answerer, so that what makes
 * two texts "near" for retrieval is what makes a sentence "relevant" for answering.
 *
 * Text is NFKC-normalised (full-width `ＬＣＥＬ` becomes `LCEL`) and lower-cased. Scripts written
 * without spaces (Han, Hiragana, Katakana, Hangul) yield character unigrams and bigrams, which
 * approximate words without a dictionary; other scripts yield words, with English stop words
 * dropped and plurals folded. For {@link features}, Latin words also yield character trigrams
 * with boundary markers, so `retrieval` and `retriever` share most of their features.
 */

/** A run of characters from a script written without spaces between words. */
const CJK_RUN = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}ー]+/v;

/** Either a CJK run or a word: letters, marks and digits of any other script. */
const TOKEN =
  /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}ー]+|[[\p{L}\p{M}\p{N}]--[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]]+/gv;

const LATIN_WORD = /^[a-z0-9]+$/;

/** Function words that carry no topic; dropping them keeps overlap scores about content. */
const ENGLISH_STOP_WORDS = new Set(
  (
    'a about above after again all also am an and any are as at be been before being below between ' +
    'both but by can could did do does doing down during each few for from further had has have ' +
    'having he her here hers him his how i if in into is it its itself just me more most my no nor ' +
    'not of off on once only or other our ours out over own same she should so some such than that ' +
    'the their theirs them then there these they this those through to too under until up very was ' +
    'we were what when where which while who whom why will with would you your yours'
  ).split(' '),
);

/**
 * CJK question words and particles ("what", "how", "is", possessive 的). Only {@link tokenize}
 * drops them: in {@link features} they are harmless and help pull same-language texts together.
 */
const CJK_STOP_TERMS = new Set(
  (
    '的 是 了 吗 呢 吧 啊 么 什 怎 哪 请 问 什么 怎么 怎样 如何 为什 为什么 哪些 哪个 是什 么是 ' +
    'の は が を に で と も か です ます 何 이 가 은 는 을 를 의 에'
  ).split(' '),
);

/**
 * Relative weights of each kind of feature in {@link features}: words count most, CJK bigrams
 * nearly as much (they are the closest thing to words there), single characters and trigrams
 * mainly add recall for variants and unseen compounds.
 */
export const FEATURE_WEIGHTS = {
  word: 1,
  cjkBigram: 0.8,
  cjkUnigram: 0.35,
  trigram: 0.3,
} as const satisfies Record<string, number>;

/** NFKC plus lower case: the form every comparison works on. */
export function normalizeText(text: string): string {
  return text.normalize('NFKC').toLowerCase();
}

/** True when a run of text belongs to a script written without spaces. */
export function isCjk(text: string): boolean {
  return CJK_RUN.test(text);
}

/** Folds common English plurals so `retries` matches `retry` and `chains` matches `chain`. */
export function foldPlural(word: string): string {
  if (!LATIN_WORD.test(word) || word.length <= 3) return word;
  if (word.endsWith('ies') && word.length > 4) return `${word.slice(0, -3)}y`;
  if (word.endsWith('sses')) return word.slice(0, -2);
  if (/(?:xes|ches|shes|zes)$/.test(word)) return word.slice(0, -2);
  if (word.endsWith('s') && !/(?:ss|us|is)$/.test(word)) return word.slice(0, -1);
  return word;
}

interface Pieces {
  words: string[];
  cjkUnigrams: string[];
  cjkBigrams: string[];
}

function split(text: string): Pieces {
  const pieces: Pieces = { words: [], cjkUnigrams: [], cjkBigrams: [] };
  for (const [run] of normalizeText(text).matchAll(TOKEN)) {
    if (isCjk(run)) {
      const chars = [...run];
      for (let i = 0; i < chars.length; i++) {
        pieces.cjkUnigrams.push(chars[i]!);
        if (i + 1 < chars.length) pieces.cjkBigrams.push(chars[i]! + chars[i + 1]!);
      }
    } else if (!ENGLISH_STOP_WORDS.has(run)) {
      pieces.words.push(foldPlural(run));
    }
  }
  return pieces;
}

/**
 * Terms for overlap scoring, in text order and with repeats: words (stop words dropped, plurals
 * folded) and, for CJK runs, character unigrams and bigrams minus question words and particles.
 */
export function tokenize(text: string): string[] {
  const { words, cjkUnigrams, cjkBigrams } = split(text);
  const cjk = [...cjkUnigrams, ...cjkBigrams].filter((t) => !CJK_STOP_TERMS.has(t));
  return [...words, ...cjk];
}

/** Character trigrams of a word with `#` marking its start and end. */
export function trigrams(word: string): string[] {
  const marked = `#${word}#`;
  const out: string[] = [];
  for (let i = 0; i + 3 <= marked.length; i++) out.push(marked.slice(i, i + 3));
  return out;
}

/**
 * Weighted features for hashing: each feature's weight is its kind's weight in
 * {@link FEATURE_WEIGHTS} times the sublinear term frequency `1 + ln(tf)`, so a word repeated
 * ten times counts about three times, not ten. Keys carry their kind (`w:`, `b:`, `u:`, `t:`)
 * so a word never collides with an n-gram spelled the same way.
 */
export function features(text: string): Map<string, number> {
  const { words, cjkUnigrams, cjkBigrams } = split(text);
  const counts = new Map<string, { tf: number; weight: number }>();
  const add = (key: string, weight: number): void => {
    const entry = counts.get(key);
    if (entry) entry.tf += 1;
    else counts.set(key, { tf: 1, weight });
  };
  for (const word of words) {
    add(`w:${word}`, FEATURE_WEIGHTS.word);
    if (LATIN_WORD.test(word) && word.length > 2) {
      for (const gram of trigrams(word)) add(`t:${gram}`, FEATURE_WEIGHTS.trigram);
    }
  }
  for (const gram of cjkBigrams) add(`b:${gram}`, FEATURE_WEIGHTS.cjkBigram);
  for (const char of cjkUnigrams) add(`u:${char}`, FEATURE_WEIGHTS.cjkUnigram);

  const weighted = new Map<string, number>();
  for (const [key, { tf, weight }] of counts) weighted.set(key, weight * (1 + Math.log(tf)));
  return weighted;
}

/** True when most of the letters in a text are CJK, e.g. to answer in the question's language. */
export function isMainlyCjk(text: string): boolean {
  let cjk = 0;
  let other = 0;
  for (const [run] of normalizeText(text).matchAll(TOKEN)) {
    if (isCjk(run)) cjk += [...run].length;
    // An English word is worth a few CJK characters of meaning.
    else other += 2;
  }
  return cjk > other;
}

/**
 * A rough token count, as LLM tokenizers would see it: about one token per CJK character, one
 * per four characters of other words, one per punctuation mark. An estimate, not a tokenizer.
 */
export function estimateTokens(text: string): number {
  let tokens = 0;
  const normalized = text.normalize('NFKC');
  for (const [run] of normalized.matchAll(TOKEN)) {
    tokens += isCjk(run) ? [...run].length : Math.ceil(run.length / 4);
  }
  tokens += normalized.replace(TOKEN, '').replace(/\s+/g, '').length;
  return tokens;
}
