import type { Queue } from 'bullmq';

import type { Redis } from '../../src/shared/redis.ts';
import type { FaultStack } from './fault-stack.ts';

/** Every job state BullMQ keeps a list or set for. */
const STATES = [
  'waiting',
  'active',
  'delayed',
  'prioritized',
  'waiting-children',
  'completed',
  'failed',
] as const;

/** Redis's `used_memory`, read directly. */
export async function usedMemory(redis: Redis): Promise<number> {
  const text = await redis.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(text)?.[1]);
}

/**
 * Gives the private Redis `headroomBytes` above what it uses now as its `maxmemory`, so a
 * scenario fills the same amount whatever the baseline (the store, AOF buffers) takes.
 */
export async function capMemory(redis: Redis, headroomBytes: number): Promise<number> {
  const max = (await usedMemory(redis)) + headroomBytes;
  await redis.config('SET', 'maxmemory', String(max));
  return max;
}

/** The id of every job in the queue, whatever its state. */
export async function jobIdsInRedis(queue: Queue): Promise<Set<string>> {
  return new Set(await queue.getRanges([...STATES], 0, -1));
}

/** A question of about `size` characters whose number the fake's tally can read. */
export function paddedQuestion(i: number, size: number): string {
  const head = `Question ${i}: how does BullMQ retry a failed job? `;
  return head + 'context '.repeat(Math.max(0, Math.ceil((size - head.length) / 8)));
}

/**
 * The flood's invariants, checked while the worker still runs: every job in Redis was
 * acknowledged (no orphans), and every acknowledged id is in Redis or already completed
 * (retention removes completed jobs).
 */
export async function checkNoOrphans(
  stack: FaultStack,
  acknowledged: ReadonlySet<string>,
): Promise<{ orphans: string[]; lost: string[] }> {
  const inRedis = await jobIdsInRedis(stack.queue);
  const orphans = [...inRedis].filter((id) => !acknowledged.has(id));
  const lost = [...acknowledged].filter(
    (id) => !inRedis.has(id) && !stack.events.completed.has(id),
  );
  return { orphans, lost };
}
