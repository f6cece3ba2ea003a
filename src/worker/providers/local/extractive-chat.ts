import { ValidationError } from '../../../shared/errors.ts';
import type { ChatInput, ChatOutput, ChatPort, ContextChunk } from '../../../shared/ports.ts';
import { endsSentence, splitSentences } from './split-sentences.ts';
import { estimateTokens, isMainlyCjk, tokenize } from './text-features.ts';

/** Options of {@link ExtractiveChat}. */
export interface ExtractiveChatOptions {
  /**
   * Most sentences an answer quotes.
   * @defaultValue 3
   */
  maxSentences?: number;
  /**
   * Share (0..1) of the question's IDF-weighted terms a sentence must contain to count as
   * relevant. Below it for every sentence, the answer says nothing was found.
   * @defaultValue 0.25
   */
  minScore?: number;
  /**
   * Sentences scoring below this fraction of the best one are left out, so one strong
   * sentence is not padded with weak ones.
   * @defaultValue 0.5
   */
  relativeScore?: number;
}

const DEFAULTS = {
  maxSentences: 3,
  minScore: 0.25,
  relativeScore: 0.5,
} satisfies Required<ExtractiveChatOptions>;

/** How much a chunk's retrieval score adds to its sentences' scores: enough to break ties. */
const RETRIEVAL_WEIGHT = 0.1;

/** The answer when no sentence of the context is relevant to the question. */
export const NO_ANSWER = {
  en: 'I could not find an answer to that in the ingested documents.',
  zh: '在已导入的文档中没有找到这个问题的答案。',
} as const;

interface Candidate {
  text: string;
  /** Rank of its chunk in the context (0 = best retrieved) and its place in the chunk. */
  chunkRank: number;
  position: number;
  terms: Set<string>;
  /** Weighted share of the question's terms it contains. */
  coverage: number;
  score: number;
}

const MARKDOWN_HEADING = /^#{1,6}\s/;
const LIST_MARKER = /^(?:[-*+>]\s+|\d+[.)]\s+)+/;
/** Longest line taken for a plain-text title when it does not end like a sentence. */
const TITLE_MAX_CHARS = 80;
const KANA_OR_HANGUL = /[\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;

function isChinese(text: string): boolean {
  return isMainlyCjk(text) && !KANA_OR_HANGUL.test(text);
}

/**
 * The plain-text headings of a chunk (a .txt file's title, a section title in a PDF's text):
 * short lines that do not end like a sentence, are not list items, and are followed by a blank
 * line and more text. Quoted, one would run into the next sentence ("Stalled jobs in BullMQ A
 * stalled job is…"), since sentences are joined with a space. A line standing alone (a short
 * document, a JSONL answer without a full stop) is not one: it may be all there is to quote.
 */
function plainTitles(text: string): Set<string> {
  const titles = new Set<string>();
  const lines = text.split(/\r?\n/).map((line) => line.trim());
  // A title needs more text after its blank line: nothing from the last non-empty line on.
  const lastText = lines.findLastIndex((line) => line !== '');
  for (let i = 0; i + 2 <= lastText; i++) {
    const line = lines[i]!;
    if (
      line !== '' &&
      line.length <= TITLE_MAX_CHARS &&
      !endsSentence(line) &&
      !LIST_MARKER.test(line) &&
      lines[i + 1] === ''
    ) {
      titles.add(line);
    }
  }
  return titles;
}

function candidatesOf(context: ContextChunk[]): Candidate[] {
  const seen = new Set<string>();
  const candidates: Candidate[] = [];
  context.forEach((chunk, chunkRank) => {
    const titles = plainTitles(chunk.text);
    splitSentences(chunk.text).forEach((sentence, position) => {
      // Headings name a topic without saying anything about it; chunk overlap repeats sentences.
      if (MARKDOWN_HEADING.test(sentence) || titles.has(sentence)) return;
      const text = sentence.replace(LIST_MARKER, '');
      if (seen.has(text)) return;
      seen.add(text);
      const score = Math.min(Math.max(chunk.score, 0), 1) * RETRIEVAL_WEIGHT;
      candidates.push({
        text,
        chunkRank,
        position,
        terms: new Set(tokenize(text)),
        coverage: 0,
        score,
      });
    });
  });
  return candidates;
}

/**
 * Inverse document frequency of each question term over the context's sentences: a term every
 * sentence shares (the topic) says little about which sentence answers; a rare one says a lot.
 * Terms no sentence contains weigh most, so a question about something absent scores low.
 */
function idfWeights(questionTerms: Set<string>, candidates: Candidate[]): Map<string, number> {
  const n = candidates.length;
  const weights = new Map<string, number>();
  for (const term of questionTerms) {
    const df = candidates.filter((c) => c.terms.has(term)).length;
    weights.set(term, Math.log(1 + (n + 1) / (df + 0.5)));
  }
  return weights;
}

const CJK_SENTENCE_END = /[。！？；]$/u;

/** Joins sentences with a space, except after a CJK full stop, which needs none. */
function joinSentences(sentences: string[]): string {
  let out = '';
  for (const sentence of sentences) {
    if (out.length > 0 && !CJK_SENTENCE_END.test(out)) out += ' ';
    out += sentence;
  }
  return out;
}

/**
 * The embedded default chat model: answers by quoting the context sentences that best match
 * the question (IDF-weighted term overlap, CJK-aware, nudged by each chunk's retrieval score),
 * in document order within a chunk. It never invents anything, needs no key and no network,
 * and says plainly (in Chinese for a Chinese question) when the context holds no answer.
 */
export class ExtractiveChat implements ChatPort {
  readonly provider = 'local';
  readonly model = 'extractive-v1';
  readonly #options: Required<ExtractiveChatOptions>;

  constructor(options: ExtractiveChatOptions = {}) {
    this.#options = { ...DEFAULTS, ...options };
    const { maxSentences, minScore, relativeScore } = this.#options;
    if (!Number.isInteger(maxSentences) || maxSentences < 1) {
      throw new ValidationError(`maxSentences must be a positive integer, got ${maxSentences}`);
    }
    if (!(minScore >= 0 && minScore <= 1) || !(relativeScore >= 0 && relativeScore <= 1)) {
      throw new ValidationError(
        `minScore and relativeScore must be between 0 and 1, got ${minScore} and ${relativeScore}`,
      );
    }
  }

  identity(): string {
    return `${this.provider}:${this.model}`;
  }

  answer(input: ChatInput, signal?: AbortSignal): Promise<ChatOutput> {
    try {
      signal?.throwIfAborted();
      const s = input.settings;
      if (
        s &&
        (s.model !== undefined || s.temperature !== undefined || s.systemPrompt !== undefined)
      ) {
        throw new ValidationError(
          'the local extractive answerer has no model, temperature or system prompt to vary; use ASKQ_LLM=openai',
        );
      }
      const text = this.#compose(input);
      const contextTokens = input.context.reduce((sum, c) => sum + estimateTokens(c.text), 0);
      return Promise.resolve({
        text,
        model: this.model,
        // Estimates (see estimateTokens): nothing here is tokenised by a real model.
        usage: {
          inputTokens: estimateTokens(input.question) + contextTokens,
          outputTokens: estimateTokens(text),
        },
        finishReason: 'stop',
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #compose({ question, context }: ChatInput): string {
    const chosen = this.#select(question, context);
    if (chosen.length === 0) return isChinese(question) ? NO_ANSWER.zh : NO_ANSWER.en;
    // Chunks in order of their best sentence; sentences in document order within a chunk.
    const chunkOrder = [...new Set(chosen.map((c) => c.chunkRank))];
    const ordered = [...chosen].sort(
      (a, b) =>
        chunkOrder.indexOf(a.chunkRank) - chunkOrder.indexOf(b.chunkRank) ||
        a.position - b.position,
    );
    return joinSentences(ordered.map((c) => c.text));
  }

  /** The relevant sentences, best first. */
  #select(question: string, context: ContextChunk[]): Candidate[] {
    const { maxSentences, minScore, relativeScore } = this.#options;
    const questionTerms = new Set(tokenize(question));
    const candidates = candidatesOf(context);
    if (questionTerms.size === 0 || candidates.length === 0) return [];

    const weights = idfWeights(questionTerms, candidates);
    const total = [...weights.values()].reduce((sum, w) => sum + w, 0);
    for (const candidate of candidates) {
      let matched = 0;
      for (const [term, weight] of weights) if (candidate.terms.has(term)) matched += weight;
      candidate.coverage = matched / total;
      candidate.score += candidate.coverage;
    }
    let relevant = candidates.filter((c) => c.coverage >= minScore);
    // A bilingual corpus often says the same thing twice: answer in the question's language.
    const cjkQuestion = isMainlyCjk(question);
    const sameLanguage = relevant.filter((c) => isMainlyCjk(c.text) === cjkQuestion);
    if (sameLanguage.length > 0) relevant = sameLanguage;
    relevant.sort(
      (a, b) => b.score - a.score || a.chunkRank - b.chunkRank || a.position - b.position,
    );
    const best = relevant[0]?.score ?? 0;
    return relevant.filter((c) => c.score >= best * relativeScore).slice(0, maxSentences);
  }
}
