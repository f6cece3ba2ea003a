import { Queue, QueueEvents, Worker } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';

import { IngestBatches } from '../../src/producer/ingest-batches.ts';
import { INGEST_QUEUE, type IngestJobData, type IngestResult } from '../../src/shared/contracts.ts';
import type { Redis } from '../../src/shared/redis.ts';
import { deletePrefix, testConnection, uniquePrefix } from '../support/redis.ts';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

describe('IngestBatches', () => {
  it('finishes a batch whose finish event never reaches its listener, by reading the job', async () => {
    const prefix = uniquePrefix('ingest-batches');
    const connection: Redis = testConnection('producer');
    const workerConnection: Redis = testConnection('worker');
    const eventsConnection: Redis = testConnection('worker');
    closers.push(async () => {
      await deletePrefix(connection, prefix);
      await Promise.all([connection, workerConnection, eventsConnection].map((c) => c.quit()));
    });
    const queue = new Queue(INGEST_QUEUE, { connection, prefix });
    closers.push(() => queue.close());
    // Listens where no ingest event ever arrives: as when the capped events stream
    // (ASKQ_EVENTS_MAX_LEN) was trimmed past a listener that lagged behind.
    const events = new QueueEvents(`${INGEST_QUEUE}-elsewhere`, {
      connection: eventsConnection,
      prefix,
    });
    closers.push(() => events.close());
    await events.waitUntilReady();
    const worker = new Worker<IngestJobData, IngestResult>(
      INGEST_QUEUE,
      async (job) => ({ upserted: job.data.chunks.length, deleted: 0, namespace: 'default' }),
      { connection: workerConnection, prefix },
    );
    closers.push(() => worker.close());

    const outcomes: { chunks: number; result?: IngestResult; failed?: unknown }[] = [];
    const batches = new IngestBatches({
      queue,
      events,
      batchSize: 2,
      timeoutMs: 8_000,
      recheckMs: 50,
      onDone: (outcome) => outcomes.push(outcome),
    });
    await batches.addDocument(
      'doc',
      [0, 1, 2].map((chunk) => ({ docId: 'doc', chunk, text: `chunk ${chunk}` })),
      'doc.md',
    );
    const started = performance.now();
    const failedFiles = await batches.finish();

    expect(failedFiles.size).toBe(0);
    expect(outcomes.map((o) => o.failed)).toEqual([undefined, undefined]);
    expect(outcomes.reduce((n, o) => n + (o.result?.upserted ?? 0), 0)).toBe(3);
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
