import type { Job, Worker } from 'bullmq';

import { readJobOrigin } from '../../shared/contracts.ts';
import type { Logger } from '../../shared/logger.ts';
import type { Redis } from '../../shared/redis.ts';
import { releasePending } from '../../shared/tenancy/pending-count.ts';

/**
 * Subtracts each finished API question from its owner's pending count (the API's
 * `ASKQ_KEY_MAX_PENDING` quota and fair-share input). Only the worker that finished a job
 * hears its event, so each is counted once. A failed write is logged and left: the count
 * expires when its owner goes quiet.
 */
export function releasePendingOnFinish(
  worker: Worker,
  redis: Redis,
  prefix: string,
  logger: Logger,
): void {
  const release = (job: Job | undefined) => {
    // Not final: a foreign producer's own BullMQ retries put the job back.
    if (!job?.finishedOn) return;
    const owner = readJobOrigin(job.data)?.owner;
    if (!owner) return;
    releasePending(redis, prefix, owner).catch((err: unknown) =>
      logger.warn({ err, job_id: job.id }, 'could not release the owner’s pending count'),
    );
  };
  worker.on('completed', release);
  worker.on('failed', release);
}
