import type { QueueOptions } from 'bullmq';

/**
 * The events-stream cap of an askq Queue handle. BullMQ keeps it in the queue's meta hash,
 * written by each Queue handle as it starts, so every askq process writing a queue passes
 * the configured value (ASKQ_EVENTS_MAX_LEN), or, with `undefined` (a handle that only reads
 * or acts on existing jobs: eval flows, cancels, the no-worker check), leaves the meta as the
 * worker and producers set it. The cap matters because the `completed` entry repeats the job's
 * whole return value: at BullMQ's default of 10,000 entries the stream holds thousands of
 * answers nobody reads once the live listeners have passed them.
 */
export function eventStreamOptions(
  maxLen: number | undefined,
): Pick<QueueOptions, 'streams' | 'skipMetasUpdate'> {
  return maxLen === undefined ? { skipMetasUpdate: true } : { streams: { events: { maxLen } } };
}
