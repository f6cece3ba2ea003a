import { createHash } from 'node:crypto';

import { z } from 'zod';

import { sourceSchema, usageSchema } from '../shared/contracts.ts';
import type { Redis } from '../shared/redis.ts';

/**
 * Bump when the prompt or the local answerer's rules change, so answers made the old way are
 * never served again.
 */
export const ANSWER_PROMPT_VERSION = 1;

/** What decides an answer: the same key means the same answer would be generated. */
export interface AnswerCacheKey {
  question: string;
  namespace: string;
  topK: number;
  chatModel: string;
  embeddingsModel: string;
  /** The vector store and index searched: another store means other answers. */
  store: string;
}

const entrySchema = z.object({
  corpus: z.number().int(),
  answer: z.string(),
  sources: z.array(sourceSchema),
  model: z.string(),
  usage: usageSchema,
});

export type CachedAnswer = Omit<z.infer<typeof entrySchema>, 'corpus'>;

export interface AnswerCacheOptions {
  redis: Redis;
  prefix: string;
  /** Seconds an answer is kept. @defaultValue 86400 */
  ttlSeconds?: number;
}

/**
 * Answers in Redis, keyed by question, namespace, topK, models and prompt version. Each entry
 * records the namespace's corpus version when it was made; ingestion bumps that version, so
 * a changed corpus is never served stale answers (one MGET reads both).
 *
 * LangChain's cache interface caches a model call by its prompt, which already holds the
 * retrieved context: it would still pay for embedding and search on every hit, and would not
 * cover the local answerer. This caches the whole answer instead.
 */
export class AnswerCache {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #ttl: number;

  constructor(options: AnswerCacheOptions) {
    this.#redis = options.redis;
    this.#prefix = options.prefix;
    this.#ttl = options.ttlSeconds ?? 86_400;
  }

  /**
   * The cached answer, if one was made on the corpus as it is now. `corpus` is the version
   * read: pass it to {@link store}, so an answer generated while ingestion ran is stored under
   * the version it was made from (and so never served on the new corpus).
   */
  async lookup(key: AnswerCacheKey): Promise<{ answer?: CachedAnswer; corpus: number }> {
    const [version, raw] = await this.#redis.mget(
      corpusVersionKey(this.#prefix, key.namespace),
      this.#entryKey(key),
    );
    const corpus = Number(version ?? 0);
    if (!raw) return { corpus };
    try {
      const { corpus: made, ...answer } = entrySchema.parse(JSON.parse(raw));
      return made === corpus ? { answer, corpus } : { corpus };
    } catch {
      return { corpus }; // a malformed entry is a miss, never an error
    }
  }

  async store(key: AnswerCacheKey, corpus: number, answer: CachedAnswer): Promise<void> {
    await this.#redis.set(
      this.#entryKey(key),
      JSON.stringify({ corpus, ...answer }),
      'EX',
      this.#ttl,
    );
  }

  #entryKey(key: AnswerCacheKey): string {
    const digest = createHash('sha256')
      .update(
        JSON.stringify([
          ANSWER_PROMPT_VERSION,
          key.question,
          key.namespace,
          key.topK,
          key.chatModel,
          key.embeddingsModel,
          key.store,
        ]),
      )
      .digest('hex');
    return `${this.#prefix}:cache:answer:${digest}`;
  }
}

/** The Redis key holding a namespace's corpus version (bumped by every ingest batch). */
export function corpusVersionKey(prefix: string, namespace: string): string {
  return `${prefix}:corpus:${namespace}`;
}
