import {
  Cluster,
  type ClusterOptions,
  Redis as IORedis,
  type RedisOptions,
  type SentinelAddress,
} from 'ioredis';

import { AskqError } from './errors.ts';
import { type RedisSettings, type RedisTarget, toSettings } from './redis-settings.ts';
import { SECOND } from './time.ts';

/** A connection askq uses: one server (standalone or found through Sentinel) or a cluster. */
export type Redis = IORedis | Cluster;

/**
 * `worker`: blocking commands, retries forever (BullMQ requires `maxRetriesPerRequest: null`).
 * `producer`: fails fast while Redis is down (no offline queue), so callers get an error
 * instead of a hang.
 */
export type ConnectionRole = 'worker' | 'producer';

const ROLE_OPTIONS = {
  worker: { maxRetriesPerRequest: null, enableReadyCheck: true },
  producer: { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 5 * SECOND },
} satisfies Record<ConnectionRole, RedisOptions>;

/** A second connection with the same settings and mode (a subscriber, a blocking reader). */
export function duplicateConnection(connection: Redis): Redis {
  return connection instanceof Cluster ? connection.duplicate() : connection.duplicate();
}

/**
 * The one connection factory: every process kind and client class connects through it, in
 * any of the three modes. Share the result; never open one per job.
 */
export function createRedisConnection(target: RedisTarget, role: ConnectionRole): Redis {
  const settings = toSettings(target);
  const client =
    settings.mode === 'cluster' ? openCluster(settings, role) : openServer(settings, role);
  // Without a listener, ioredis prints every reconnect error; callers see errors on commands.
  client.on('error', () => {});
  return client;
}

function authOptions(settings: RedisSettings): RedisOptions {
  return {
    ...(settings.username ? { username: settings.username } : {}),
    ...(settings.password ? { password: settings.password } : {}),
    ...(settings.tls ? { tls: {} } : {}),
  };
}

function openServer(settings: RedisSettings, role: ConnectionRole): IORedis {
  const options: RedisOptions = {
    ...ROLE_OPTIONS[role],
    ...authOptions(settings),
    lazyConnect: false,
  };
  if (settings.mode === 'standalone') {
    // ioredis lets a URL's own user, password and rediss:// win over the options.
    return new IORedis(settings.url, options);
  }
  if (settings.mode !== 'sentinel') throw new AskqError(`not a server mode: ${settings.mode}`);
  const sentinels: Partial<SentinelAddress>[] = settings.sentinels;
  return new IORedis({
    ...options,
    sentinels,
    name: settings.name,
    ...(settings.sentinelPassword ? { sentinelPassword: settings.sentinelPassword } : {}),
    ...(settings.tls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
    // Sentinel announces +switch-master: move to the new master at once, instead of
    // finding out from a dropped connection or a READONLY reply.
    failoverDetector: true,
    reconnectOnError: (err) => /READONLY/.test(err.message),
  });
}

function openCluster(settings: RedisSettings, role: ConnectionRole): Cluster {
  if (settings.mode !== 'cluster') throw new AskqError(`not a cluster: ${settings.mode}`);
  const { enableOfflineQueue, ...perNode } = ROLE_OPTIONS[role] as RedisOptions;
  const options: ClusterOptions = {
    enableReadyCheck: true,
    ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
    // A failover takes a few seconds (cluster-node-timeout plus the election); keep retrying
    // the moved slot's commands across it rather than failing them after 1.6 s.
    retryDelayOnFailover: 300,
    retryDelayOnClusterDown: 300,
    redisOptions: { ...perNode, ...authOptions(settings) },
    ...(settings.tls ? { dnsLookup: (address, callback) => callback(null, address) } : {}),
  };
  return new Cluster(settings.nodes, options);
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

/** True when a Redis at `url` answers PING within `timeoutMs`. */
export async function redisAnswers(url: string, timeoutMs = 1500): Promise<boolean> {
  const client = new IORedis(url, {
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
