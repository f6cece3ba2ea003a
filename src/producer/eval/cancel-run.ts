import { ValidationError } from '../../shared/errors.ts';
import type { Redis } from '../../shared/redis.ts';
import { cancelQuestions } from '../cancel-questions.ts';
import { EvalFlow } from './eval-flow.ts';

/** What `askq eval cancel` did. */
export interface RunCancellation {
  runId: string;
  /** Cases removed before they started. */
  removed: number;
  /** Active cases whose workers were asked to abort them (they end failed, `cancelled`). */
  aborting: number;
}

/** Jobs read and cancelled per round trip. */
const CHUNK = 500;

/**
 * Cancels every unfinished case of a run, wherever it runs: marks the run cancelled (a
 * producer still enqueueing it stops), removes waiting and delayed cases, and asks every
 * worker to abort the active ones. Cases already answered keep their results; a resume
 * (`askq eval run --resume <runId>`) runs the cancelled ones.
 */
export async function cancelRun(options: {
  connection: Redis;
  prefix: string;
  runId: string;
}): Promise<RunCancellation> {
  const { connection, prefix, runId } = options;
  const flow = new EvalFlow({ connection, prefix, runId, priority: 1, keepSeconds: 86_400 });
  const queue = flow.questions;
  try {
    // Marked first, so cases a producer adds while this runs are not started after it.
    await flow.markCancelled();
    const ids = await flow.unfinishedJobIds();
    if (ids === undefined) {
      await flow.forgetCancellation();
      throw new ValidationError(
        `run ${runId} has no unfinished cases in Redis (prefix ${prefix}): it finished, or never started`,
      );
    }
    const outcome: RunCancellation = { runId, removed: 0, aborting: 0 };
    for (let i = 0; i < ids.length; i += CHUNK) {
      const jobs = await Promise.all(ids.slice(i, i + CHUNK).map((id) => queue.getJob(id)));
      const found = jobs.filter((j) => j !== undefined);
      const cancelled = await cancelQuestions(queue, connection, found);
      const aborting = cancelled.filter((c) => c.outcome === 'aborting').map((c) => c.id);
      await flow.rememberAborted(aborting);
      outcome.removed += cancelled.filter((c) => c.outcome === 'removed').length;
      outcome.aborting += aborting.length;
    }
    return outcome;
  } finally {
    await flow.close().catch(() => {});
  }
}
