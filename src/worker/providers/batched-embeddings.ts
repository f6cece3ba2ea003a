import DataLoader from 'dataloader';

import { coerceError, PermanentError } from '../../shared/errors.ts';
import type { EmbeddingsPort } from '../../shared/ports.ts';
import { SECOND } from '../../shared/time.ts';
import { classifyProviderError } from './classify-provider-error.ts';

export interface BatchedEmbeddingsOptions {
  /** Longest a query waits for others to share its request. @defaultValue 5 */
  maxWaitMs?: number;
  /** Most texts in one request (the provider's batch limit). @defaultValue 64 */
  maxBatchSize?: number;
  /** Timeout of one shared request. @defaultValue 30000 */
  callTimeoutMs?: number;
}

export const BATCHED_EMBEDDINGS_DEFAULTS = {
  maxWaitMs: 5,
  maxBatchSize: 64,
  callTimeoutMs: 30 * SECOND,
} satisfies Required<BatchedEmbeddingsOptions>;

/**
 * Micro-batches `embedQuery` calls of concurrent jobs into one `embedDocuments` request
 * (dataloader): a query waits at most `maxWaitMs`, or until `maxBatchSize` queries are
 * waiting, then one HTTP call answers them all and each gets its own vector. Callers see the
 * same port. Each caller's own signal still ends its wait (the shared request runs on with
 * its own timeout, since other callers still want its answer).
 */
export class BatchedEmbeddings implements EmbeddingsPort {
  readonly provider: string;
  readonly model: string;
  readonly serverAddress?: string;
  /** HTTP requests made for queries (for benchmarks and tests). */
  requests = 0;
  readonly #inner: EmbeddingsPort;
  readonly #loader: DataLoader<string, number[]>;

  constructor(inner: EmbeddingsPort, options: BatchedEmbeddingsOptions = {}) {
    const opts = { ...BATCHED_EMBEDDINGS_DEFAULTS, ...options };
    this.#inner = inner;
    this.provider = inner.provider;
    this.model = inner.model;
    if (inner.serverAddress) this.serverAddress = inner.serverAddress;
    this.#loader = new DataLoader<string, number[]>(
      async (texts) => {
        this.requests += 1;
        const embed = (batch: string[]) =>
          inner.embedDocuments(batch, AbortSignal.timeout(opts.callTimeoutMs));
        try {
          return await embed([...texts]);
        } catch (err) {
          if (
            texts.length === 1 ||
            !(classifyProviderError(err, 'embeddings') instanceof PermanentError)
          )
            throw err;
          // A 4xx for the batch may be one text's fault (too long, say): ask for each alone, so
          // only that query fails for good and the others' jobs are answered.
          this.requests += texts.length;
          return Promise.all(
            texts.map((t) =>
              embed([t]).then(
                (v) => v[0] ?? new PermanentError('embeddings returned no vector'),
                (e: unknown) => coerceError(e),
              ),
            ),
          );
        }
      },
      {
        cache: false,
        maxBatchSize: opts.maxBatchSize,
        batchScheduleFn: (run) => setTimeout(run, opts.maxWaitMs),
      },
    );
  }

  embedQuery(text: string, signal?: AbortSignal): Promise<number[]> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return this.#loader.load(text);
  }

  /** Document batches (ingestion) are already batched: passed straight through. */
  embedDocuments(texts: string[], signal?: AbortSignal): Promise<number[][]> {
    return this.#inner.embedDocuments(texts, signal);
  }
}
