import type { Redis } from '../redis.ts';

/**
 * The Redis pub/sub channel on which producers ask every worker process to cancel an active
 * question. BullMQ's `Worker.cancelJob` only reaches jobs of its own process, so the request
 * travels here; each worker cancels the job if it is running it.
 */
export function cancelChannel(prefix: string): string {
  return `${prefix}:askq:cancel`;
}

/**
 * The abort reason a worker gives a job cancelled on request, telling it apart from a
 * shutdown (which puts the job back rather than failing it).
 */
export const CANCEL_REQUESTED = 'askq: cancel requested';

/** The failed reason of a question cancelled while active. */
export const CANCELLED_REASON = 'cancelled';

/** Asks every worker process to cancel these active jobs; resolves with the listeners reached. */
export async function publishCancel(
  redis: Redis,
  prefix: string,
  jobIds: string[],
): Promise<number> {
  if (jobIds.length === 0) return 0;
  return redis.publish(cancelChannel(prefix), JSON.stringify(jobIds));
}

/** The job ids in a cancel message; an unreadable message names none. */
export function parseCancelMessage(message: string): string[] {
  try {
    const ids: unknown = JSON.parse(message);
    return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string') : [];
  } catch {
    return [];
  }
}
