import { type Job, UnrecoverableError } from 'bullmq';

import { formatIssues, ingestJobDataSchema, type IngestResult } from '../../shared/contracts.ts';
import { PermanentError } from '../../shared/errors.ts';
import { readJobState } from '../../shared/job-state.ts';
import type { Logger } from '../../shared/logger.ts';
import { chunkId, type VectorRecord } from '../../shared/ports.ts';
import { guardPorts, type Guards, type Ports } from '../resilience/guarded-ports.ts';
import { type RetryPolicy, settleFailure } from '../resilience/settle-failure.ts';

export interface IngestProcessorDeps {
  ports: Ports;
  guards: Guards;
  policy: RetryPolicy;
  logger: Logger;
  defaultNamespace: string;
  /** Pauses the ingest queue for every worker (rate limits, open breakers). */
  pauseQueue: (ms: number) => Promise<void>;
  /** Marks the namespace's corpus as changed (so cached answers are not served). */
  bumpCorpus: (namespace: string) => Promise<void>;
}

/**
 * The `ingest` job: embed a batch of chunks, upsert them by deterministic id (ingesting twice
 * changes nothing), then delete chunks a document no longer has.
 */
export function createIngestProcessor(deps: IngestProcessorDeps) {
  return async (job: Job, token?: string, signal?: AbortSignal): Promise<IngestResult> => {
    const state = readJobState(job.data);
    state.attempt += 1;
    state.firstStartedAt ??= job.processedOn ?? Date.now();
    const logger = deps.logger.child({ job_id: job.id, attempt: state.attempt });
    const parsed = ingestJobDataSchema.safeParse(job.data);
    if (!parsed.success) {
      throw new UnrecoverableError(`invalid ingest job data: ${formatIssues(parsed.error)}`);
    }
    const { chunks, documents } = parsed.data;
    const namespace = parsed.data.namespace ?? deps.defaultNamespace;
    const { embeddings, store } = guardPorts(deps.ports, deps.guards, signal ? { signal } : {});
    try {
      const vectors = await embeddings.embedDocuments(chunks.map((c) => c.text));
      if (vectors.length !== chunks.length) {
        throw new PermanentError(
          `embeddings returned ${vectors.length} vectors for ${chunks.length} chunks`,
        );
      }
      const records: VectorRecord[] = chunks.map((c, i) => ({
        id: chunkId(c.docId, c.chunk),
        docId: c.docId,
        chunk: c.chunk,
        text: c.text,
        values: vectors[i] ?? [],
        ...(c.metadata ? { metadata: c.metadata } : {}),
      }));
      await store.upsert(namespace, records);
      let deleted = 0;
      for (const [docId, count] of Object.entries(documents)) {
        deleted += await store.deleteChunksFrom(namespace, docId, count);
      }
      await deps.bumpCorpus(namespace);
      logger.info({ namespace, upserted: records.length, deleted }, 'ingested');
      return { upserted: records.length, deleted, namespace };
    } catch (err) {
      return settleFailure(err, {
        job,
        token,
        state,
        policy: deps.policy,
        logger,
        pauseQueue: deps.pauseQueue,
      });
    }
  };
}
