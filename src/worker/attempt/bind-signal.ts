import type { GraderPort, Ports } from '../../shared/ports.ts';

/** The same ports with `signal` passed to every call, so a job function need not thread it. */
export function bindSignal(ports: Ports, signal: AbortSignal | undefined): Ports {
  if (signal === undefined) return ports;
  const { chat, embeddings, store, grader } = ports;
  return {
    chat: {
      ...identity(chat),
      ...(chat.identity ? { identity: (settings) => chat.identity!(settings) } : {}),
      answer: (input) => chat.answer(input, signal),
    },
    ...(grader ? { grader: bindGrader(grader, signal) } : {}),
    embeddings: {
      ...identity(embeddings),
      embedQuery: (text) => embeddings.embedQuery(text, signal),
      embedDocuments: (texts) => embeddings.embedDocuments(texts, signal),
    },
    store: {
      ...identity(store),
      ...(store.indexName ? { indexName: store.indexName } : {}),
      upsert: (ns, records) => store.upsert(ns, records, signal),
      deleteChunksFrom: (ns, docId, from) => store.deleteChunksFrom(ns, docId, from, signal),
      query: (ns, vector, topK) => store.query(ns, vector, topK, signal),
      close: () => store.close(),
    },
  };
}

/** A grader with `signal` passed to every call (a job's own grader, chosen per job). */
export function bindGrader(grader: GraderPort, signal: AbortSignal | undefined): GraderPort {
  if (signal === undefined) return grader;
  return { ...identity(grader), grade: (request) => grader.grade(request, signal) };
}

function identity(port: { provider: string; model?: string; serverAddress?: string }) {
  return {
    provider: port.provider,
    model: port.model ?? '',
    ...(port.serverAddress ? { serverAddress: port.serverAddress } : {}),
  };
}
