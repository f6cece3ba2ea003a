import { AsyncLocalStorage } from 'node:async_hooks';

import {
  getHeadersWithUserAgent,
  OpenAIClient,
  OpenAIEmbeddings,
  wrapOpenAIClientError,
} from '@langchain/openai';

import type { EmbeddingsPort } from '../../../shared/ports.ts';
import { nodeHttpFetch } from './node-http-fetch.ts';
import { hostOf } from './openai-chat.ts';

/** Options of {@link OpenAIEmbeddingsProvider}. */
export interface OpenAIEmbeddingsProviderOptions {
  /** API key; sent as a bearer token, never logged. */
  apiKey: string;
  /** Base URL of an OpenAI-compatible server. @defaultValue the OpenAI API */
  baseURL?: string;
  /** Embedding model, e.g. `text-embedding-3-small`. */
  model: string;
  /** Dimensions to request (models that support it). @defaultValue the model's own */
  dimensions?: number;
  /** Texts per embeddings request in `embedDocuments`. @defaultValue 512 (OpenAIEmbeddings' own) */
  batchSize?: number;
  /**
   * Requests in flight at once per provider. @defaultValue Infinity: the worker's concurrency
   * already bounds them, and a hidden queue would make per-call timeouts count waiting time.
   */
  maxConcurrency?: number;
}

const DEFAULTS = {
  batchSize: 512,
  maxConcurrency: Infinity,
} satisfies Partial<OpenAIEmbeddingsProviderOptions>;

type EmbeddingRequest = OpenAIClient.EmbeddingCreateParams;

/**
 * OpenAIEmbeddings (1.x) takes no per-call signal: `embedQuery`/`embedDocuments` have no options
 * and `embeddingWithRetry` sends an empty request options object. This subclass overrides that
 * protected hook to send the signal of the current call to the SDK (which aborts the HTTP
 * request) and to race it in the AsyncCaller (so a call still waiting for a slot rejects at
 * once). The signal travels from our public methods to the hook in an AsyncLocalStorage,
 * read synchronously when the hook is entered, before any queueing.
 */
class SignalAwareOpenAIEmbeddings extends OpenAIEmbeddings {
  readonly signals = new AsyncLocalStorage<AbortSignal | undefined>();

  protected override async embeddingWithRetry(
    request: EmbeddingRequest,
  ): Promise<OpenAIClient.CreateEmbeddingResponse & { _request_id?: string | null }> {
    const signal = this.signals.getStore();
    signal?.throwIfAborted();
    // The client is built the way OpenAIEmbeddings builds it, with retries off.
    this.client ??= new OpenAIClient({
      ...this.clientConfig,
      timeout: this.timeout,
      maxRetries: 0,
      defaultHeaders: getHeadersWithUserAgent(this.clientConfig.defaultHeaders),
    });
    return this.caller.callWithOptions({ signal, maxRetries: 0 }, async () => {
      try {
        return await this.client.embeddings.create(request, { signal });
      } catch (e) {
        throw wrapOpenAIClientError(e);
      }
    });
  }
}

/**
 * The embeddings port on LangChain's OpenAIEmbeddings: batching by `batchSize`, newline
 * stripping and the SDK's base64 transport come from it; `maxRetries: 0` because the queue
 * owns retries. Errors are left as thrown; the worker classifies them.
 */
export class OpenAIEmbeddingsProvider implements EmbeddingsPort {
  readonly provider = 'openai';
  readonly model: string;
  readonly serverAddress: string;
  readonly #embeddings: SignalAwareOpenAIEmbeddings;

  constructor(options: OpenAIEmbeddingsProviderOptions) {
    if (!options.apiKey) throw new TypeError('OpenAIEmbeddingsProvider needs an apiKey');
    if (!options.model) throw new TypeError('OpenAIEmbeddingsProvider needs a model');
    this.model = options.model;
    this.serverAddress = hostOf(options.baseURL);
    this.#embeddings = new SignalAwareOpenAIEmbeddings({
      apiKey: options.apiKey,
      model: options.model,
      batchSize: options.batchSize ?? DEFAULTS.batchSize,
      maxConcurrency: options.maxConcurrency ?? DEFAULTS.maxConcurrency,
      maxRetries: 0,
      ...(options.dimensions ? { dimensions: options.dimensions } : {}),
      configuration: {
        fetch: nodeHttpFetch,
        ...(options.baseURL ? { baseURL: options.baseURL } : {}),
      },
    });
  }

  /** One vector; `signal` aborts the HTTP request. */
  async embedQuery(text: string, signal?: AbortSignal): Promise<number[]> {
    const vector = await this.#embeddings.signals.run(signal, () =>
      this.#embeddings.embedQuery(text),
    );
    return Array.from(vector);
  }

  /** One vector per text, in order, in requests of at most `batchSize` texts. */
  async embedDocuments(texts: string[], signal?: AbortSignal): Promise<number[][]> {
    if (texts.length === 0) return [];
    const vectors = await this.#embeddings.signals.run(signal, () =>
      this.#embeddings.embedDocuments(texts),
    );
    return vectors.map((v) => Array.from(v));
  }
}
