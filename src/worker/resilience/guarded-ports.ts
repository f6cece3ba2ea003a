import type { ChatPort, EmbeddingsPort, VectorStorePort } from '../../shared/ports.ts';
import type { DependencyGuard } from './dependency-guard.ts';

/** The three ports the pipeline uses. */
export interface Ports {
  chat: ChatPort;
  embeddings: EmbeddingsPort;
  store: VectorStorePort;
}

export interface Guards {
  chat: DependencyGuard;
  embeddings: DependencyGuard;
  vectorStore: DependencyGuard;
}

/**
 * Wraps each port so every call goes through its dependency's guard (breaker, per-call
 * timeout, classification). `outer` is the job's signal: cancelling the job cancels its calls.
 * The pipeline receives these and never sees opossum.
 */
export function guardPorts(ports: Ports, guards: Guards, outer?: AbortSignal): Ports {
  const { chat, embeddings, store } = ports;
  return {
    chat: {
      provider: chat.provider,
      model: chat.model,
      answer: (input) => guards.chat.call((signal) => chat.answer(input, signal), outer),
    },
    embeddings: {
      provider: embeddings.provider,
      model: embeddings.model,
      embedQuery: (text) =>
        guards.embeddings.call((signal) => embeddings.embedQuery(text, signal), outer),
      embedDocuments: (texts) =>
        guards.embeddings.call((signal) => embeddings.embedDocuments(texts, signal), outer),
    },
    store: {
      provider: store.provider,
      upsert: (ns, records) =>
        guards.vectorStore.call((signal) => store.upsert(ns, records, signal), outer),
      deleteChunksFrom: (ns, docId, from) =>
        guards.vectorStore.call((signal) => store.deleteChunksFrom(ns, docId, from, signal), outer),
      query: (ns, vector, topK) =>
        guards.vectorStore.call((signal) => store.query(ns, vector, topK, signal), outer),
      close: () => store.close(),
    },
  };
}
