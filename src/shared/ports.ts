/**
 * The ports the pipeline is a function of. Providers (remote and local) implement them; the
 * worker wraps them in breakers and timeouts; tests hand in fakes. Every call takes an
 * AbortSignal that covers the whole call, response body included.
 */

/** Turns text into vectors. */
export interface EmbeddingsPort {
  /** Provider name for logs and spans, e.g. `openai`, `local`. */
  readonly provider: string;
  /** Model name, e.g. `text-embedding-3-small`, `hashing-v1`. */
  readonly model: string;
  /** Host the calls go to (`server.address` on spans); absent for in-process providers. */
  readonly serverAddress?: string;
  embedQuery(text: string, signal?: AbortSignal): Promise<number[]>;
  embedDocuments(texts: string[], signal?: AbortSignal): Promise<number[][]>;
}

/** A chunk stored in a vector store. `id` is derived from docId and chunk. */
export interface VectorRecord {
  id: string;
  docId: string;
  chunk: number;
  text: string;
  values: number[];
  metadata?: Record<string, string>;
}

/** A chunk found by a query; `score` is a similarity, higher is better. */
export interface VectorMatch {
  docId: string;
  chunk: number;
  text: string;
  score: number;
  metadata?: Record<string, string>;
}

/** Stores and searches chunk vectors, partitioned by namespace. */
export interface VectorStorePort {
  /** Provider name for logs and spans, e.g. `pinecone`, `lancedb`. */
  readonly provider: string;
  /** Index or table searched, for span names (`query <index>`). */
  readonly indexName?: string;
  /** Host the calls go to (`server.address` on spans); absent for in-process stores. */
  readonly serverAddress?: string;
  /** Inserts or replaces records by id: upserting twice changes nothing. */
  upsert(namespace: string, records: VectorRecord[], signal?: AbortSignal): Promise<void>;
  /** Deletes the chunks of `docId` whose index is `>= fromChunk`; returns how many it deleted when known. */
  deleteChunksFrom(
    namespace: string,
    docId: string,
    fromChunk: number,
    signal?: AbortSignal,
  ): Promise<number>;
  /** The `topK` nearest chunks, best first. */
  query(
    namespace: string,
    vector: number[],
    topK: number,
    signal?: AbortSignal,
  ): Promise<VectorMatch[]>;
  /** Releases connections and handles. */
  close(): Promise<void>;
}

/** One retrieved chunk handed to the chat model. */
export interface ContextChunk {
  docId: string;
  chunk: number;
  text: string;
  score: number;
}

export interface ChatInput {
  question: string;
  /** Best first; empty when retrieval found nothing or was skipped (degraded). */
  context: ContextChunk[];
}

export interface ChatOutput {
  text: string;
  /** The model that answered, as the provider reports it. */
  model: string;
  usage: { inputTokens: number; outputTokens: number };
  finishReason?: string;
}

/** Answers a question from context. */
export interface ChatPort {
  readonly provider: string;
  readonly model: string;
  /** Host the calls go to (`server.address` on spans); absent for in-process providers. */
  readonly serverAddress?: string;
  answer(input: ChatInput, signal?: AbortSignal): Promise<ChatOutput>;
}

/** The vector id of a chunk: deterministic, so re-ingesting overwrites. */
export function chunkId(docId: string, chunk: number): string {
  return `${docId}#${chunk}`;
}

/** The three ports the pipeline is a function of. */
export interface Ports {
  chat: ChatPort;
  embeddings: EmbeddingsPort;
  store: VectorStorePort;
}
