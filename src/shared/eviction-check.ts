import { Cluster } from 'ioredis';

import { AskqError } from './errors.ts';
import type { Redis } from './redis.ts';

/** Redis would evict keys under memory pressure: BullMQ may lose jobs. */
export class EvictionPolicyError extends AskqError {
  override name = 'EvictionPolicyError';
}

/** Redis refused `CONFIG GET` (managed services often hide it), so the policy is unknown. */
export class EvictionCheckUnavailableError extends AskqError {
  override name = 'EvictionCheckUnavailableError';
}

export interface EvictionCheckOptions {
  /** Skip the check (ASKQ_SKIP_EVICTION_CHECK), for services that hide `CONFIG GET`. @defaultValue false */
  skip?: boolean;
}

/**
 * Fails with a clear message unless `maxmemory-policy` is `noeviction` on the server, or on
 * every master of a cluster (each holds its own slots and evicts on its own).
 */
export async function assertNoEviction(
  client: Redis,
  options: EvictionCheckOptions = {},
): Promise<void> {
  if (options.skip) return;
  const servers = client instanceof Cluster ? client.nodes('master') : [client];
  for (const server of servers) {
    const where =
      client instanceof Cluster ? ` on master ${server.options.host}:${server.options.port}` : '';
    const policy = await readPolicy(server, where);
    if (policy !== undefined && policy !== 'noeviction') {
      throw new EvictionPolicyError(
        `Redis maxmemory-policy is "${policy}"${where}; BullMQ needs "noeviction" or it may ` +
          'lose jobs. Run: redis-cli CONFIG SET maxmemory-policy noeviction (and set it in ' +
          "redis.conf, or the provider's parameter group).",
      );
    }
  }
}

async function readPolicy(server: Redis, where: string): Promise<string | undefined> {
  let reply: unknown;
  try {
    reply = await server.config('GET', 'maxmemory-policy');
  } catch (err) {
    // A managed service renames or forbids CONFIG: an unknown command, or NOPERM under ACLs.
    if (
      /unknown command|NOPERM|no permissions|not allowed|disabled/i.test((err as Error).message)
    ) {
      throw new EvictionCheckUnavailableError(
        `Redis refused CONFIG GET maxmemory-policy${where} (${(err as Error).message}), so ` +
          "askq cannot check it is noeviction. Make sure it is in the provider's settings, " +
          'then set ASKQ_SKIP_EVICTION_CHECK=true.',
        { cause: err },
      );
    }
    throw err;
  }
  return Array.isArray(reply) ? (reply[1] as string | undefined) : undefined;
}
