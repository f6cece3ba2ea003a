import { locationOf } from '../../shared/chunk-location.ts';
import type { Source } from '../../shared/contracts.ts';
import type { EmbeddingsPort, VectorStorePort } from '../../shared/ports.ts';
import { withSpan } from '../../shared/telemetry/spans.ts';

export interface RetrieveInput {
  question: string;
  namespace: string;
  topK: number;
}

/** What retrieval hands to generation; kept with the job so a retry does not repeat it. */
export interface Retrieval {
  sources: Source[];
  retrieveMs: number;
}

/** Embeds the question and searches the vector store: the `retrieve` stage. */
export async function retrieve(
  input: RetrieveInput,
  ports: { embeddings: EmbeddingsPort; store: VectorStorePort },
): Promise<Retrieval> {
  // topK and the number of sources are on the `query` child (`askq.top_k`,
  // `db.response.returned_rows`); the namespace stays here for a retrieval whose embedding failed.
  return withSpan('retrieve', { attributes: { 'askq.namespace': input.namespace } }, async () => {
    const started = performance.now();
    const vector = await ports.embeddings.embedQuery(input.question);
    const matches = await ports.store.query(input.namespace, vector, input.topK);
    const sources = matches
      .map((m): Source => {
        const source: Source = { id: m.docId, chunk: m.chunk, score: m.score, text: m.text };
        // Only a chunk stored with metadata can have a place (a PDF page, a heading).
        return m.metadata ? { ...source, ...locationOf(m.metadata) } : source;
      })
      .sort((a, b) => b.score - a.score);
    return { sources, retrieveMs: performance.now() - started };
  });
}
