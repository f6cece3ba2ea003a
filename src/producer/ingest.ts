import { RecursiveCharacterTextSplitter } from '@langchain/textsplitters';
import { Queue, QueueEvents } from 'bullmq';

import { INGEST_QUEUE, type IngestChunk } from '../shared/contracts.ts';
import { DEFAULTS } from '../shared/defaults.ts';
import { eventStreamOptions } from '../shared/queue-options.ts';
import { createRedisConnection } from '../shared/redis.ts';
import type { RedisTarget } from '../shared/redis-settings.ts';
import { Admission, ADMISSION_DEFAULTS } from './admission.ts';
import { DocumentParser } from './documents/document-parser.ts';
import { type FailedBatch, IngestBatches } from './ingest-batches.ts';
import {
  readDocuments,
  type SkippedInput,
  type SourceDocument,
  type SourceFile,
} from './read-documents.ts';
import { checkSyncFolder, syncFolder } from './sync-folder.ts';

export interface IngestOptions {
  /** Where Redis is: settings from `redisSettingsFrom`, or a URL. */
  redis: RedisTarget;
  /** BullMQ key prefix. @defaultValue askq */
  prefix?: string;
  /** Entries kept in the ingest queue's BullMQ events stream. @defaultValue 1000 */
  eventsMaxLen?: number;
  /** Vector store namespace; the worker's default when omitted (required with `sync`). */
  namespace?: string;
  /** Chunk size in characters. @defaultValue 800 */
  chunkSize?: number;
  /** Chunk overlap in characters. @defaultValue 100 */
  chunkOverlap?: number;
  /** Chunks per ingest job. @defaultValue 64 */
  batchSize?: number;
  /** How long to wait for the workers. @defaultValue 1 hour */
  timeoutMs?: number;
  /**
   * Percent of Redis's maxmemory past which ingestion stops enqueueing and throws
   * QueueFullError (a re-run continues: unchanged batches are not enqueued twice).
   * @defaultValue 85
   */
  highWaterPercent?: number;
  /** Larger files are skipped unread. @defaultValue 50 MB */
  maxFileBytes?: number;
  /** A document that would have more chunks is skipped. @defaultValue 10000 */
  maxChunksPerDocument?: number;
  /** How long parsing one PDF, DOCX or HTML file may take. @defaultValue 60 * SECOND */
  parseTimeoutMs?: number;
  /** Heap of the parser thread in MB. @defaultValue 512 */
  parseMemoryMb?: number;
  /**
   * Make the namespace mirror the one folder in `paths`: only new and changed files (by
   * content hash) are ingested, and documents whose file is gone are deleted.
   * @defaultValue false
   */
  sync?: boolean;
  onSkip?: (skipped: SkippedInput) => void;
  /** Called as chunks are enqueued (`total` grows) and as batches finish (`done` grows). */
  onProgress?: (progress: { done: number; total: number; documents: number }) => void;
}

export const INGEST_DEFAULTS = {
  prefix: DEFAULTS.prefix,
  eventsMaxLen: DEFAULTS.eventsMaxLen,
  chunkSize: DEFAULTS.chunkSize,
  chunkOverlap: DEFAULTS.chunkOverlap,
  batchSize: DEFAULTS.ingestBatchSize,
  timeoutMs: DEFAULTS.ingestTimeoutMs,
  highWaterPercent: ADMISSION_DEFAULTS.highWaterPercent,
  maxFileBytes: DEFAULTS.ingestMaxFileBytes,
  maxChunksPerDocument: DEFAULTS.ingestMaxChunks,
  parseTimeoutMs: DEFAULTS.ingestParseTimeoutMs,
  parseMemoryMb: DEFAULTS.ingestParseMemoryMb,
  sync: false,
} satisfies Partial<IngestOptions>;

export interface IngestSummary {
  documents: number;
  chunks: number;
  upserted: number;
  /** Chunks deleted from the store: stale ones of shrunk documents and those of removed documents. */
  deleted: number;
  /** With `sync`: files skipped because their content had not changed since the last sync. */
  unchanged: number;
  /** With `sync`: documents deleted because their file (or JSONL line) is gone. */
  removed: number;
  skipped: SkippedInput[];
  /** Batches that failed, with the worker's reason. */
  failed: FailedBatch[];
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

/** The options with every default filled in. */
type Settings = IngestOptions & {
  [K in keyof typeof INGEST_DEFAULTS]-?: NonNullable<IngestOptions[K]>;
};

/**
 * Reads, parses and chunks documents in this process and enqueues them as ingest jobs, then
 * waits until every batch is in the vector store (searchable): workers embed and upsert.
 * Re-running an unchanged ingestion changes nothing; with `sync`, it does not even enqueue.
 */
export async function ingest(paths: string[], options: IngestOptions): Promise<IngestSummary> {
  const opts: Settings = { ...INGEST_DEFAULTS, ...options };
  const syncDir = opts.sync ? await checkSyncFolder(paths, opts.namespace) : undefined;
  const splitter = new RecursiveCharacterTextSplitter({
    chunkSize: opts.chunkSize,
    chunkOverlap: opts.chunkOverlap,
    separators: SEPARATORS,
  });
  const parser = new DocumentParser({
    timeoutMs: opts.parseTimeoutMs,
    memoryMb: opts.parseMemoryMb,
  });
  const connection = createRedisConnection(opts.redis, 'producer');
  const eventsConnection = createRedisConnection(opts.redis, 'worker');
  const queue = new Queue(INGEST_QUEUE, {
    connection,
    prefix: opts.prefix,
    ...eventStreamOptions(opts.eventsMaxLen),
  });
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
    unchanged: 0,
    removed: 0,
    skipped: [],
    failed: [],
  };
  let done = 0;
  const progress = () =>
    opts.onProgress?.({ done, total: summary.chunks, documents: summary.documents });
  const onSkip = (s: SkippedInput) => {
    summary.skipped.push(s);
    opts.onSkip?.(s);
  };
  const batches = new IngestBatches({
    queue,
    admission: new Admission(connection, { highWaterPercent: opts.highWaterPercent }),
    events,
    ...(opts.namespace ? { namespace: opts.namespace } : {}),
    batchSize: opts.batchSize,
    timeoutMs: opts.timeoutMs,
    onDone: ({ chunks, result, failed }) => {
      if (result) {
        summary.upserted += result.upserted;
        summary.deleted += result.deleted;
      }
      if (failed) summary.failed.push(failed);
      done += chunks;
      progress();
    },
  });
  /** Chunks and enqueues a file's documents; returns the ids of those enqueued. */
  const enqueueFile = async (file: SourceFile): Promise<string[]> => {
    const enqueued: string[] = [];
    for (const doc of file.documents) {
      const chunks = await chunkDocument(doc, splitter);
      if (chunks.length > opts.maxChunksPerDocument) {
        onSkip({
          where: doc.id === file.id ? file.path : `${file.path} (${doc.id})`,
          reason:
            `${chunks.length} chunks, over the limit of ${opts.maxChunksPerDocument} per ` +
            'document (ASKQ_INGEST_MAX_CHUNKS)',
        });
        continue;
      }
      summary.documents += 1;
      summary.chunks += chunks.length;
      await batches.addDocument(doc.id, chunks, file.id);
      enqueued.push(doc.id);
      progress();
    }
    return enqueued;
  };

  try {
    // The producer connection queues no commands while it connects: the manifest read waits.
    await Promise.all([events.waitUntilReady(), queue.waitUntilReady()]);
    const readOptions = { parser, maxFileBytes: opts.maxFileBytes, onSkip };
    if (syncDir === undefined) {
      for await (const file of readDocuments(paths, readOptions)) await enqueueFile(file);
      await batches.finish();
    } else {
      await syncFolder(connection, syncDir, {
        prefix: opts.prefix,
        namespace: opts.namespace!,
        chunking: opts,
        summary,
        batches,
        enqueueFile,
        readOptions,
      });
    }
    return summary;
  } finally {
    await parser.close().catch(() => {});
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
  const chunks: IngestChunk[] = [];
  // Parts are split one by one, so a chunk never spans two pages or sections.
  for (const part of doc.parts) {
    for (const raw of await splitter.splitText(part.text)) {
      const text = raw.trim();
      if (text.length === 0) continue;
      chunks.push({
        docId: doc.id,
        chunk: chunks.length,
        text,
        metadata: doc.metadata,
        ...(part.page === undefined ? {} : { page: part.page }),
        ...(part.section === undefined ? {} : { section: part.section }),
      });
    }
  }
  return chunks;
}
