import { createHash } from 'node:crypto';

import { RecursiveCharacterTextSplitter } from '@langchain/textsplitters';
import { type Job, Queue, QueueEvents } from 'bullmq';

import {
  INGEST_JOB,
  INGEST_QUEUE,
  type IngestChunk,
  type IngestJobData,
  type IngestResult,
} from '../shared/contracts.ts';
import { DEFAULTS } from '../shared/defaults.ts';
import { createRedisConnection } from '../shared/redis.ts';
import { readDocuments, type SkippedInput, type SourceDocument } from './read-documents.ts';

export interface IngestOptions {
  redisUrl: string;
  /** BullMQ key prefix. @defaultValue askq */
  prefix?: string;
  /** Vector store namespace; the worker's default when omitted. */
  namespace?: string;
  /** Chunk size in characters. @defaultValue 800 */
  chunkSize?: number;
  /** Chunk overlap in characters. @defaultValue 100 */
  chunkOverlap?: number;
  /** Chunks per ingest job. @defaultValue 64 */
  batchSize?: number;
  /** How long to wait for the workers. @defaultValue 1 hour */
  timeoutMs?: number;
  onSkip?: (skipped: SkippedInput) => void;
  /** Called as chunks are enqueued (`total` grows) and as batches finish (`done` grows). */
  onProgress?: (progress: { done: number; total: number; documents: number }) => void;
}

export const INGEST_DEFAULTS = {
  prefix: DEFAULTS.prefix,
  chunkSize: DEFAULTS.chunkSize,
  chunkOverlap: DEFAULTS.chunkOverlap,
  batchSize: DEFAULTS.ingestBatchSize,
  timeoutMs: DEFAULTS.ingestTimeoutMs,
} satisfies Partial<IngestOptions>;

export interface IngestSummary {
  documents: number;
  chunks: number;
  upserted: number;
  deleted: number;
  skipped: SkippedInput[];
  /** Batches that failed, with the worker's reason. */
  failed: { jobId: string; documents: string[]; reason: string }[];
}

// Sentence ends of Chinese and Japanese come before spaces, so CJK text splits at sentences.
const SEPARATORS = [
  '\n\n',
  '\n',
  '。',
  '！',
  '？',
  '. ',
  '! ',
  '? ',
  '；',
  '; ',
  '，',
  ', ',
  ' ',
  '',
];

/**
 * Reads, chunks and enqueues documents as ingest jobs, then waits until every batch is in
 * the vector store (searchable). Job ids derive from the content, so re-running an unchanged
 * ingestion changes nothing.
 */
export async function ingest(paths: string[], options: IngestOptions): Promise<IngestSummary> {
  const opts = { ...INGEST_DEFAULTS, ...options };
  const splitter = new RecursiveCharacterTextSplitter({
    chunkSize: opts.chunkSize,
    chunkOverlap: opts.chunkOverlap,
    separators: SEPARATORS,
  });
  const connection = createRedisConnection(opts.redisUrl, 'producer');
  const eventsConnection = createRedisConnection(opts.redisUrl, 'worker');
  const queue = new Queue(INGEST_QUEUE, { connection, prefix: opts.prefix });
  const events = new QueueEvents(INGEST_QUEUE, {
    connection: eventsConnection,
    prefix: opts.prefix,
  });
  queue.on('error', () => {});
  events.on('error', () => {});
  const summary: IngestSummary = {
    documents: 0,
    chunks: 0,
    upserted: 0,
    deleted: 0,
    skipped: [],
    failed: [],
  };
  let done = 0;
  const progress = () =>
    opts.onProgress?.({ done, total: summary.chunks, documents: summary.documents });
  const waits: Promise<void>[] = [];

  const submit = async (batch: { chunks: IngestChunk[]; documents: Record<string, number> }) => {
    const data: IngestJobData = {
      ...(opts.namespace ? { namespace: opts.namespace } : {}),
      chunks: batch.chunks,
      documents: batch.documents,
    };
    const jobId = `ingest-${digest(data)}`;
    // The same content in flight is simply followed; a finished job of the same content (from
    // an earlier run: a completed one may be stale after other content was ingested since, a
    // failed one would never run again) is removed so the batch really runs again.
    const existing = await queue.getJob(jobId);
    if (existing && ['completed', 'failed'].includes(await existing.getState())) {
      await existing.remove();
    }
    const job = await queue.add(INGEST_JOB, data, {
      jobId,
      removeOnComplete: { age: 24 * 3600, count: 1000 },
      removeOnFail: { age: 7 * 24 * 3600, count: 1000 },
    });
    waits.push(follow(job, batch.chunks.length, Object.keys(batch.documents)));
  };
  const follow = async (job: Job, size: number, docs: string[]) => {
    try {
      const result = (await job.waitUntilFinished(events, opts.timeoutMs)) as IngestResult;
      summary.upserted += result.upserted;
      summary.deleted += result.deleted;
    } catch (err) {
      summary.failed.push({ jobId: job.id!, documents: docs, reason: (err as Error).message });
    }
    done += size;
    progress();
  };

  try {
    await events.waitUntilReady();
    let pending: { chunks: IngestChunk[]; documents: Record<string, number> } = {
      chunks: [],
      documents: {},
    };
    const onSkip = (s: SkippedInput) => {
      summary.skipped.push(s);
      opts.onSkip?.(s);
    };
    for await (const doc of readDocuments(paths, onSkip)) {
      const chunks = await chunkDocument(doc, splitter);
      summary.documents += 1;
      summary.chunks += chunks.length;
      // A document larger than a batch is split; only its last batch deletes stale chunks.
      for (let i = 0; i < chunks.length; i += opts.batchSize) {
        const part = chunks.slice(i, i + opts.batchSize);
        const last = i + opts.batchSize >= chunks.length;
        if (pending.chunks.length + part.length > opts.batchSize) {
          await submit(pending);
          pending = { chunks: [], documents: {} };
        }
        pending.chunks.push(...part);
        if (last) pending.documents[doc.id] = chunks.length;
      }
      progress();
    }
    if (pending.chunks.length > 0) await submit(pending);
    await Promise.all(waits);
    return summary;
  } finally {
    await events.close().catch(() => {});
    await queue.close().catch(() => {});
    eventsConnection.disconnect();
    await connection.quit().catch(() => connection.disconnect());
  }
}

async function chunkDocument(
  doc: SourceDocument,
  splitter: RecursiveCharacterTextSplitter,
): Promise<IngestChunk[]> {
  const texts = (await splitter.splitText(doc.text))
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
  return texts.map((text, chunk) => ({ docId: doc.id, chunk, text, metadata: doc.metadata }));
}

function digest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 40);
}
