import type { Job, Queue } from 'bullmq';

import { readJobOrigin } from '../shared/contracts.ts';
import type { Redis } from '../shared/redis.ts';
import { publishCancel } from '../shared/tenancy/cancel-channel.ts';
import { releasePending } from '../shared/tenancy/pending-count.ts';

/** What a cancel did to one question. */
export interface CancelOutcome {
  id: string;
  /** The state the question was in when cancelled (or is in, when it had already finished). */
  state: string;
  /**
   * `removed`: it was waiting or delayed and is gone; `aborting`: it is active, and the worker
   * running it was asked to abort it (it ends `failed` with reason `cancelled`); `finished`:
   * it had completed or failed already, nothing was done.
   */
  outcome: 'removed' | 'aborting' | 'finished';
}

const FINISHED = new Set(['completed', 'failed']);

/**
 * Cancels questions: removes those not yet started, and asks every worker (Redis pub/sub) to
 * abort those running. A question that starts between the read of its state and its removal
 * cannot be removed (its lock) and is aborted instead. Removed questions recorded by the API
 * give their place back to the owner's pending quota.
 */
export async function cancelQuestions(
  queue: Queue,
  redis: Redis,
  jobs: readonly Job[],
): Promise<CancelOutcome[]> {
  const prefix = queue.opts.prefix ?? 'bull';
  const outcomes = await Promise.all(
    jobs.map(async (job): Promise<CancelOutcome> => {
      const id = job.id!;
      const state = await queue.getJobState(id);
      if (FINISHED.has(state) || state === 'unknown') return { id, state, outcome: 'finished' };
      if (state !== 'active' && (await queue.remove(id, { removeChildren: false })) === 1) {
        const owner = readJobOrigin(job.data)?.owner;
        if (owner) await releasePending(redis, prefix, owner);
        return { id, state, outcome: 'removed' };
      }
      return { id, state: 'active', outcome: 'aborting' };
    }),
  );
  await publishCancel(
    redis,
    prefix,
    outcomes.filter((o) => o.outcome === 'aborting').map((o) => o.id),
  );
  return outcomes;
}
