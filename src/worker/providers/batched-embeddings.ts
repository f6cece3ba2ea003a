import DataLoader from 'dataloader';

import { CancelledError, coerceError, PermanentError } from '../../shared/errors.ts';
import type { EmbeddingsPort } from '../../shared/ports.ts';

export interface BatchedEmbeddingsOptions {
  /** Longest a query waits for others to share its request. */
  maxWaitMs: number;
  /** Most texts in one request (the provider's batch limit). */
  maxBatchSize: number;
}

/**
 * Micro-batches `embedQuery` calls of concurrent jobs into one `embedDocuments` request
 * (dataloader): a query waits at most `maxWaitMs`, or until `maxBatchSize` queries are
 * waiting, then one call answers them all and each gets its own vector. Callers see the same
 * port.
 *
 * `inner` is the guarded port (the embeddings policy: pause, breaker, classification,
 * timeout), so a shared request passes the breaker once and counts once however many jobs
 * wait on it, and its errors arrive classified. Each caller's own signal still ends its wait;
 * the shared request runs on, since other callers still want its answer.
 */
export class BatchedEmbeddings implements EmbeddingsPort {
  readonly provider: string;
  readonly model: string;
  readonly serverAddress?: string;
  /** Requests made for queries (for benchmarks and tests). */
  requests = 0;
  readonly #inner: EmbeddingsPort;
  readonly #loader: DataLoader<string, number[]>;

  constructor(inner: EmbeddingsPort, options: BatchedEmbeddingsOptions) {
    this.#inner = inner;
    this.provider = inner.provider;
    this.model = inner.model;
    if (inner.serverAddress) this.serverAddress = inner.serverAddress;
    this.#loader = new DataLoader<string, number[]>(
      async (texts) => {
        this.requests += 1;
        try {
          return await inner.embedDocuments([...texts]);
        } catch (err) {
          if (texts.length === 1 || !(err instanceof PermanentError)) throw err;
          // A 4xx for the batch may be one text's fault (too long, say): ask for each alone, so
          // only that query fails for good and the others' jobs are answered.
          this.requests += texts.length;
          return Promise.all(
            texts.map((t) =>
              inner.embedDocuments([t]).then(
                (v) => v[0] ?? new PermanentError('embeddings returned no vector'),
                (e: unknown) => coerceError(e),
              ),
            ),
          );
        }
      },
      {
        cache: false,
        maxBatchSize: options.maxBatchSize,
        batchScheduleFn: (run) => setTimeout(run, options.maxWaitMs),
      },
    );
  }

  embedQuery(text: string, signal?: AbortSignal): Promise<number[]> {
    const loading = this.#loader.load(text);
    if (!signal) return loading;
    const cancelled = () =>
      new CancelledError('embeddings call cancelled', { cause: signal.reason });
    // The shared request may still fail after this caller left: handled, not a crash.
    loading.catch(() => {});
    if (signal.aborted) return Promise.reject(cancelled());
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(cancelled());
      signal.addEventListener('abort', onAbort, { once: true });
      loading.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /** Document batches (ingestion) are already batched: passed straight through. */
  embedDocuments(texts: string[], signal?: AbortSignal): Promise<number[][]> {
    return this.#inner.embedDocuments(texts, signal);
  }
}
