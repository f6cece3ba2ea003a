import type { z } from 'zod';

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

/** Per-call chat settings over the configured ones (an evaluation variant's). */
export interface ChatSettings {
  model?: string;
  temperature?: number;
  /** Replaces the system prompt. */
  systemPrompt?: string;
}

export interface ChatInput {
  question: string;
  /** Best first; empty when retrieval found nothing or was skipped (degraded). */
  context: ContextChunk[];
  /** @defaultValue the configured model, temperature and prompt */
  settings?: ChatSettings;
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
  /** The most tokens one answer may have (max tokens), for the tokens-per-minute limit. @defaultValue 512 */
  readonly maxOutputTokens?: number;
  answer(input: ChatInput, signal?: AbortSignal): Promise<ChatOutput>;
  /**
   * Everything of this port that changes an answer given these settings (model, temperature,
   * max tokens, server, prompt), as one string: the answer cache keys on it.
   * @defaultValue `provider:model`
   */
  identity?(settings?: ChatSettings): string;
}

/** One structured-output request to a grader model. */
export interface GradeRequest<T> {
  /** Names the reply's JSON schema (`faithfulness`, `judge`…); letters, digits, `_` and `-`. */
  name: string;
  /** The system message: what to do and how to reply. */
  instructions: string;
  /** The user message: the material to grade. */
  input: string;
  /** The reply's shape; sent as the JSON schema of a structured-output request and checked on return. */
  schema: z.ZodType<T>;
}

export interface GradeOutput<T> {
  value: T;
  /** The model that graded, as the provider reports it. */
  model: string;
  usage: { inputTokens: number; outputTokens: number };
}

/**
 * A grader model: replies in structured output (JSON schema). Used by the `score` stage for
 * the RAG metrics and `judge`; a model other than the one that answers, unless configured
 * equal. Throws {@link GraderReplyError} when the reply does not match the schema.
 */
export interface GraderPort {
  readonly provider: string;
  readonly model: string;
  /** Host the calls go to (`server.address` on spans); absent for in-process providers. */
  readonly serverAddress?: string;
  /** The most tokens one reply may have (max tokens), for the tokens-per-minute limit. @defaultValue 512 */
  readonly maxOutputTokens?: number;
  grade<T>(request: GradeRequest<T>, signal?: AbortSignal): Promise<GradeOutput<T>>;
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
  /** The grader model, when one is configured: `judge` and the RAG metrics' `llm` method. */
  grader?: GraderPort | undefined;
}
