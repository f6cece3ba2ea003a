import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';

import { type Job, type Queue, type QueueEvents } from 'bullmq';

import {
  INGEST_JOB,
  type IngestChunk,
  type IngestJobData,
  type IngestResult,
} from '../shared/contracts.ts';
import { SECOND } from '../shared/time.ts';
import type { Admission } from './admission.ts';

/** A batch that failed, with the worker's reason. */
export interface FailedBatch {
  jobId: string;
  documents: string[];
  reason: string;
}

/** Options of {@link IngestBatches}. */
export interface IngestBatchesOptions {
  queue: Queue;
  /** Refuses a batch with QueueFullError while Redis is past its high-water mark. @defaultValue no check */
  admission?: Admission;
  events: QueueEvents;
  namespace?: string;
  /** Chunks (and deletions) per job. */
  batchSize: number;
  timeoutMs: number;
  /** How often a batch's wait also reads its job's state. @defaultValue 2000 */
  recheckMs?: number;
  /** Called as each batch finishes, with the chunks it held. */
  onDone: (outcome: { chunks: number; result?: IngestResult; failed?: FailedBatch }) => void;
}

interface PendingBatch {
  chunks: IngestChunk[];
  documents: Record<string, number>;
  /** Files whose changes ride in this batch, so a failure keeps them out of the sync manifest. */
  files: Set<string>;
}

/**
 * Packs chunks and deletions into ingest jobs of at most `batchSize` items, enqueues them and
 * follows them to the end. Job ids derive from the content, so re-running an unchanged
 * ingestion enqueues the same jobs.
 */
export class IngestBatches {
  readonly #options: IngestBatchesOptions;
  readonly #waits: Promise<void>[] = [];
  readonly #failedFiles = new Set<string>();
  #pending: PendingBatch = emptyBatch();

  constructor(options: IngestBatchesOptions) {
    this.#options = options;
  }

  /** Adds a document's chunks; a document larger than a batch spans several, and only its last deletes stale chunks. */
  async addDocument(docId: string, chunks: IngestChunk[], file: string): Promise<void> {
    const { batchSize } = this.#options;
    for (let i = 0; i < chunks.length; i += batchSize) {
      const part = chunks.slice(i, i + batchSize);
      await this.#makeRoom(part.length);
      this.#pending.chunks.push(...part);
      this.#pending.files.add(file);
      if (i + batchSize >= chunks.length) this.#pending.documents[docId] = chunks.length;
    }
  }

  /** Deletes every chunk of a document from the store. */
  async deleteDocument(docId: string, file: string): Promise<void> {
    await this.#makeRoom(1);
    this.#pending.documents[docId] = 0;
    this.#pending.files.add(file);
  }

  /** Enqueues what is pending and waits for every batch; returns the files of failed batches. */
  async finish(): Promise<Set<string>> {
    await this.#submit();
    await Promise.all(this.#waits);
    return this.#failedFiles;
  }

  async #makeRoom(items: number): Promise<void> {
    if (size(this.#pending) + items > this.#options.batchSize) await this.#submit();
  }

  async #submit(): Promise<void> {
    const batch = this.#pending;
    if (size(batch) === 0) return;
    this.#pending = emptyBatch();
    const { queue, namespace, admission } = this.#options;
    await admission?.admit();
    const data: IngestJobData = {
      ...(namespace ? { namespace } : {}),
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
    const job = await queue
      .add(INGEST_JOB, data, {
        jobId,
        removeOnComplete: { age: 24 * 3600, count: 1000 },
        removeOnFail: { age: 7 * 24 * 3600, count: 1000 },
      })
      .catch((err: unknown) => {
        throw admission ? admission.fromRedisError(err) : err;
      });
    this.#waits.push(this.#follow(job, batch));
  }

  async #follow(job: Job, batch: PendingBatch): Promise<void> {
    const { events, timeoutMs, onDone } = this.#options;
    const stop = new AbortController();
    try {
      const result = (await Promise.race([
        job.waitUntilFinished(events, timeoutMs),
        this.#readUntilFinished(job.id!, stop.signal),
      ])) as IngestResult;
      onDone({ chunks: batch.chunks.length, result });
    } catch (err) {
      for (const file of batch.files) this.#failedFiles.add(file);
      const documents = Object.keys(batch.documents);
      onDone({
        chunks: batch.chunks.length,
        failed: { jobId: job.id!, documents, reason: (err as Error).message },
      });
    } finally {
      stop.abort();
    }
  }

  /**
   * Resolves with the job's return value (rejects with its reason) once a read of the job finds
   * it finished, reading every `recheckMs` until `signal` aborts. The events stream is capped
   * (ASKQ_EVENTS_MAX_LEN): a listener that lags behind a burst of ingest jobs (this process
   * parsing a large file) can have a batch's finish event trimmed before it reads it.
   */
  async #readUntilFinished(id: string, signal: AbortSignal): Promise<unknown> {
    const { queue, recheckMs = 2 * SECOND } = this.#options;
    for (;;) {
      await delay(recheckMs, undefined, { signal });
      const job = await queue.getJob(id).catch(() => undefined);
      if (!job?.finishedOn) continue;
      if ((await job.getState()) === 'failed') throw new Error(job.failedReason);
      return job.returnvalue;
    }
  }
}

function emptyBatch(): PendingBatch {
  return { chunks: [], documents: {}, files: new Set() };
}

function size(batch: PendingBatch): number {
  return batch.chunks.length + Object.values(batch.documents).filter((n) => n === 0).length;
}

function digest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 40);
}
