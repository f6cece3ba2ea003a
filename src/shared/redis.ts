import { Redis, type RedisOptions } from 'ioredis';

import { AskqError } from './errors.ts';

export type { Redis } from 'ioredis';

/**
 * `worker`: blocking commands, retries forever (BullMQ requires `maxRetriesPerRequest: null`).
 * `producer`: fails fast while Redis is down (no offline queue), so callers get an error
 * instead of a hang.
 */
export type ConnectionRole = 'worker' | 'producer';

/** Opens one shared connection for a role. Share it; never open one per job. */
export function createRedisConnection(url: string, role: ConnectionRole): Redis {
  const options: RedisOptions =
    role === 'worker'
      ? { maxRetriesPerRequest: null, enableReadyCheck: true }
      : { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 5000 };
  const client = new Redis(url, { ...options, lazyConnect: false });
  // Without a listener, ioredis prints every reconnect error; callers see errors on commands.
  client.on('error', () => {});
  return client;
}

/** Resolves once the connection is ready, or rejects after `timeoutMs`. */
export async function waitUntilReady(client: Redis, timeoutMs = 5000): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new AskqError(`Redis did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      client.off('ready', onReady);
    };
    client.on('ready', onReady);
  });
}

/** Fails with a clear message unless Redis's `maxmemory-policy` is `noeviction`. */
export async function assertNoEviction(client: Redis): Promise<void> {
  const reply = (await client.config('GET', 'maxmemory-policy')) as string[];
  const policy = reply[1];
  if (policy !== undefined && policy !== 'noeviction') {
    throw new AskqError(
      `Redis maxmemory-policy is "${policy}"; BullMQ needs "noeviction" or it may lose jobs. ` +
        'Run: redis-cli CONFIG SET maxmemory-policy noeviction (and set it in redis.conf).',
    );
  }
}

/** True when a Redis at `url` answers PING within `timeoutMs`. */
export async function redisAnswers(url: string, timeoutMs = 1500): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}
