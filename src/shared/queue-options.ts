import type { JobsOptions, QueueOptions } from 'bullmq';

import { DEFAULTS } from './defaults.ts';

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

/** Finished jobs kept: counts, and an age in seconds for both. */
export interface Retention {
  keepCompleted: number;
  keepFailed: number;
  keepSeconds: number;
}

/**
 * The retention options a producer puts on each job: only those that differ from askq's
 * defaults. The worker applies its ASKQ_KEEP_* (the same defaults unless set) to every job
 * that carries none, and BullMQ keeps a job's options in its hash for as long as the job is
 * retained, so repeating the defaults cost 91 B per retained job. Either way the bound acts
 * queue-wide: each finishing job trims the whole completed (or failed) set to its count.
 */
export function jobRetention(
  keep: Retention,
): Pick<JobsOptions, 'removeOnComplete' | 'removeOnFail'> {
  const age = keep.keepSeconds;
  const sameAge = age === DEFAULTS.keepSeconds;
  return {
    ...(sameAge && keep.keepCompleted === DEFAULTS.keepCompleted
      ? {}
      : { removeOnComplete: { count: keep.keepCompleted, age } }),
    ...(sameAge && keep.keepFailed === DEFAULTS.keepFailed
      ? {}
      : { removeOnFail: { count: keep.keepFailed, age } }),
  };
}
