import type { BatchApiOptions } from '../../../shared/batch/batch-api.ts';
import { FINAL_BATCH_STATUSES } from '../../../shared/batch/batch-lane.ts';
import { BatchStore } from '../../../shared/batch/batch-store.ts';
import type { Redis } from '../../../shared/redis.ts';

export interface CancelledBatch {
  chunk: number;
  batchId: string;
  /** The batch's status after the cancel request (`cancelling`, or already final). */
  status: string;
}

/** Whether the run answers through the batch lane (its lane settings are in Redis). */
export async function isBatchRun(redis: Redis, prefix: string, runId: string): Promise<boolean> {
  return (await new BatchStore(redis, prefix, runId, 1).meta()) !== undefined;
}

/**
 * Cancels a batch-lane run's batches: marks the lane cancelled in Redis (no further batch is
 * submitted, the cases still waiting for one end in error) and, given `api`, asks the Batch
 * API to cancel each open batch. What a batch already answered is still collected and scored.
 */
export async function cancelRunBatches(options: {
  redis: Redis;
  prefix: string;
  runId: string;
  keepSeconds: number;
  /** Where the Batch API is; without it open batches run on (nothing new is submitted). */
  api?: BatchApiOptions;
}): Promise<CancelledBatch[]> {
  const store = new BatchStore(options.redis, options.prefix, options.runId, options.keepSeconds);
  await store.cancel();
  const open = (await store.records()).filter(
    (r) =>
      r.batchId && !r.collected && !(FINAL_BATCH_STATUSES as readonly string[]).includes(r.status),
  );
  if (open.length === 0 || !options.api) return [];
  // The openai SDK is loaded only when there are batches to cancel.
  const { BatchApi } = await import('../../../shared/batch/batch-api.ts');
  const api = new BatchApi(options.api);
  const cancelled: CancelledBatch[] = [];
  for (const r of open) {
    const batch = await api.cancel(r.batchId!);
    cancelled.push({ chunk: r.chunk, batchId: batch.id, status: batch.status });
  }
  return cancelled;
}
