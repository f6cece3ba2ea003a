import { withLocation } from '../../shared/chunk-location.ts';
import {
  INGEST_QUEUE,
  type IngestJobData,
  ingestJobDataSchema,
  type IngestResult,
} from '../../shared/contracts.ts';
import { PermanentError } from '../../shared/errors.ts';
import { chunkId, type VectorRecord } from '../../shared/ports.ts';
import type { JobKind } from '../attempt/job-kind.ts';

export interface IngestJobOptions {
  /** Namespace when the job names none. */
  defaultNamespace: string;
  /** Marks the namespace's corpus as changed (so cached answers are not served). */
  bumpCorpus: (namespace: string) => Promise<void>;
}

/**
 * The `ingest` job: embed a batch of chunks, upsert them by deterministic id (ingesting twice
 * changes nothing), then delete chunks a document no longer has (all of them for a document
 * listed with 0 chunks).
 */
export function ingestJob(options: IngestJobOptions): JobKind<IngestJobData, IngestResult> {
  return {
    queue: INGEST_QUEUE,
    dataName: 'ingest job data',
    schema: ingestJobDataSchema,
    async run({ chunks, documents, ...data }, { ports, logger }) {
      const namespace = data.namespace ?? options.defaultNamespace;
      // A job without chunks only deletes documents (ingest --sync): nothing to embed.
      const vectors =
        chunks.length > 0 ? await ports.embeddings.embedDocuments(chunks.map((c) => c.text)) : [];
      if (vectors.length !== chunks.length) {
        throw new PermanentError(
          `embeddings returned ${vectors.length} vectors for ${chunks.length} chunks`,
        );
      }
      const records: VectorRecord[] = chunks.map((c, i) => {
        const metadata = withLocation(c.metadata, { page: c.page, section: c.section });
        return {
          id: chunkId(c.docId, c.chunk),
          docId: c.docId,
          chunk: c.chunk,
          text: c.text,
          values: vectors[i] ?? [],
          ...(metadata ? { metadata } : {}),
        };
      });
      if (records.length > 0) await ports.store.upsert(namespace, records);
      let deleted = 0;
      for (const [docId, count] of Object.entries(documents)) {
        deleted += await ports.store.deleteChunksFrom(namespace, docId, count);
      }
      await options.bumpCorpus(namespace);
      logger.info({ namespace, upserted: records.length, deleted }, 'ingested');
      return { upserted: records.length, deleted, namespace };
    },
  };
}
