import { Cluster } from 'ioredis';

import { TransientError } from './errors.ts';
import type { Redis } from './redis.ts';

/** Fewer replicas than asked confirmed a write in time; the write is on the master only. */
export class ReplicaWaitError extends TransientError {
  override name = 'ReplicaWaitError';
}

/**
 * Redis `WAIT`: blocks until `replicas` replicas hold every write this connection made, or
 * `timeoutMs` passes. On a cluster it asks every master: the one holding askq's slot waits
 * for the write, the others answer at once (this connection wrote nothing there).
 */
export async function waitForReplicas(
  connection: Redis,
  replicas: number,
  timeoutMs: number,
): Promise<void> {
  if (replicas <= 0) return;
  const servers = connection instanceof Cluster ? connection.nodes('master') : [connection];
  const acked = await Promise.all(servers.map((server) => server.wait(replicas, timeoutMs)));
  const least = Math.min(...acked);
  if (least < replicas) {
    throw new ReplicaWaitError(
      `enqueued, but only ${least} of ${replicas} replicas confirmed it within ${timeoutMs} ms ` +
        '(ASKQ_REDIS_WAIT_REPLICAS); a master failing now could lose it: retry with the same job id',
    );
  }
}
