/**
 * Words that end in a period without ending a sentence. Lower-cased, without the final period.
 */
const ABBREVIATIONS = new Set([
  'e.g',
  'i.e',
  'etc',
  'vs',
  'cf',
  'approx',
  'fig',
  'no',
  'mr',
  'mrs',
  'ms',
  'dr',
  'prof',
  'st',
  'inc',
  'ltd',
]);

/** Ends a sentence wherever it appears (CJK full stops need no following space). */
const CJK_TERMINATORS = new Set(['。', '！', '？', '；', '．']);
/** End a sentence only when followed by whitespace or the end, so `3.5` and `a.b` stay whole. */
const LATIN_TERMINATORS = new Set(['.', '!', '?']);
/** Closing quotes and brackets that belong to the sentence they follow. */
const CLOSERS = new Set(['"', "'", ')', ']', '”', '’', '」', '』', '）', '】', '》']);

/**
 * Whether `text` ends the way a sentence does: a terminator the splitter cuts at (or an
 * ellipsis), then any closing quotes or brackets. A line that does not may be a title.
 */
export function endsSentence(text: string): boolean {
  let end = text.length;
  while (end > 0 && CLOSERS.has(text[end - 1]!)) end--;
  const last = text[end - 1];
  return (
    last !== undefined && (LATIN_TERMINATORS.has(last) || CJK_TERMINATORS.has(last) || last === '…')
  );
}

/** The word right before position `end`, e.g. `e.g` in `such as e.g.`. */
function wordBefore(text: string, end: number): string {
  let start = end;
  while (start > 0 && /[\p{L}\p{N}.]/u.test(text[start - 1]!)) start--;
  return text.slice(start, end);
}

function isAbbreviation(text: string, periodAt: number): boolean {
  const word = wordBefore(text, periodAt);
  // A lone capital letter is an initial ("J. Smith"), not the end of a sentence.
  return ABBREVIATIONS.has(word.toLowerCase()) || /^\p{Lu}$/u.test(word);
}

/**
 * Splits text into sentences: after `. ! ?` followed by whitespace (unless it ends an
 * abbreviation such as `e.g.` or the next sentence would start in lower case), after the CJK
 * `。！？；` anywhere, and at line breaks. Sentences are trimmed; empty ones are dropped.
 */
export function splitSentences(text: string): string[] {
  const sentences: string[] = [];
  let start = 0;
  const cut = (end: number): void => {
    const sentence = text.slice(start, end).trim();
    if (/[\p{L}\p{N}]/u.test(sentence)) sentences.push(sentence);
    start = end;
  };

  let i = 0;
  while (i < text.length) {
    const char = text[i]!;
    if (char === '\n' || char === '\r') {
      cut(i);
      i++;
      start = i;
      continue;
    }
    if (CJK_TERMINATORS.has(char)) {
      i++;
      while (i < text.length && (CJK_TERMINATORS.has(text[i]!) || CLOSERS.has(text[i]!))) i++;
      cut(i);
      continue;
    }
    if (LATIN_TERMINATORS.has(char)) {
      const at = i;
      i++;
      while (i < text.length && (LATIN_TERMINATORS.has(text[i]!) || CLOSERS.has(text[i]!))) i++;
      const next = text[i];
      if (next !== undefined && !/\s/u.test(next)) continue;
      const following = text.slice(i).trimStart()[0];
      const startsLower = following !== undefined && /\p{Ll}/u.test(following);
      if (char === '.' && (isAbbreviation(text, at) || startsLower)) continue;
      cut(i);
      continue;
    }
    i++;
  }
  cut(text.length);
  return sentences;
}
