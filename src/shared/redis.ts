import {
  Cluster,
  type ClusterOptions,
  Redis as IORedis,
  type RedisOptions,
  type SentinelAddress,
  type SentinelConnectionOptions,
  SentinelConnector,
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

/** How a cluster client rides out a failover (the cluster needs a few seconds to elect). */
const CLUSTER_RETRY = {
  /**
   * Delay between retries of a command whose node went away; with ioredis's 16 tries about
   * 5 s, longer than a failover with a short cluster-node-timeout (1.6 s at its default).
   */
  retryDelayOnFailover: 300,
  retryDelayOnClusterDown: 300,
} satisfies ClusterOptions;

type SettingsOf<M extends RedisSettings['mode']> = Extract<RedisSettings, { mode: M }>;

/**
 * The one connection factory: every process kind and client class connects through it, in
 * any of the three modes. Share the result; never open one per job.
 */
export function createRedisConnection(target: RedisTarget, role: ConnectionRole): Redis {
  const settings = toSettings(target);
  let client: Redis;
  switch (settings.mode) {
    case 'standalone':
      // ioredis lets a URL's own user, password and rediss:// win over the options.
      client = new IORedis(settings.url, serverOptions(settings, role));
      break;
    case 'sentinel':
      client = openSentinel(settings, role);
      break;
    case 'cluster':
      client = openCluster(settings, role);
      break;
  }
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

function serverOptions(settings: RedisSettings, role: ConnectionRole): RedisOptions {
  return { ...ROLE_OPTIONS[role], ...authOptions(settings), lazyConnect: false };
}

function openSentinel(settings: SettingsOf<'sentinel'>, role: ConnectionRole): IORedis {
  const sentinels: Partial<SentinelAddress>[] = settings.sentinels;
  return new IORedis({
    ...serverOptions(settings, role),
    sentinels,
    name: settings.name,
    ...(settings.sentinelPassword ? { sentinelPassword: settings.sentinelPassword } : {}),
    ...(settings.tls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
    // Sentinel announces +switch-master: move to the new master at once, instead of
    // finding out from a dropped connection or a READONLY reply (or, from a master that hangs
    // without closing its sockets, not at all).
    failoverDetector: true,
    Connector: SentinelReconnector,
    reconnectOnError: (err) => /READONLY/.test(err.message),
  });
}

/**
 * ioredis's Sentinel connector without a race that gives a connection up for good. The failover
 * detector of the last connection stays subscribed while ioredis reconnects; a +switch-master
 * that arrives while the reconnect is asking the sentinels for the master disconnects the
 * connector in mid-connect, the connect rejects with "Connection is closed." and ioredis ends
 * the client: status `end`, every command failing from then on, no reconnect. A failover makes
 * exactly that likely (the master's death starts the reconnect, its replacement is announced
 * a second or two later), more so on a loaded machine where the lookup takes longer: one
 * run of the sentinel fault test lost its connection this way. Here each connect first drops
 * the old detector: the reconnect asks the sentinels itself, and a new detector watches the
 * master it reaches. Passed as the `Connector` option, so `duplicate()` (BullMQ's blocking
 * connection) keeps it.
 */
class SentinelReconnector extends SentinelConnector {
  // ioredis types a `Connector` as taking unknown options; it passes the client's own.
  constructor(options: unknown) {
    super(options as SentinelConnectionOptions);
  }

  override connect(...args: Parameters<SentinelConnector['connect']>) {
    // ioredis keeps the detector private; it cleans it up itself only on a disconnect of its
    // own or once the next one is subscribed.
    const self = this as unknown as { failoverDetector: { cleanup(): void } | null };
    self.failoverDetector?.cleanup();
    self.failoverDetector = null;
    return super.connect(...args);
  }
}

function openCluster(settings: SettingsOf<'cluster'>, role: ConnectionRole): Cluster {
  // The offline queue is the cluster's own option; the rest of a role applies per node.
  const { enableOfflineQueue, ...perNode } = ROLE_OPTIONS[role] as RedisOptions;
  return new Cluster(settings.nodes, {
    enableReadyCheck: true,
    ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
    ...CLUSTER_RETRY,
    redisOptions: { ...perNode, ...authOptions(settings) },
    // Managed TLS clusters announce nodes by hostname in their certificates: connect by the
    // name as given, so certificate checks match (ioredis's advice for ElastiCache).
    ...(settings.tls ? { dnsLookup: (address, callback) => callback(null, address) } : {}),
  });
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

/** True when the Redis of `target` answers PING within `timeoutMs`, in any mode. */
export async function redisAnswers(target: RedisTarget, timeoutMs = 1500): Promise<boolean> {
  const settings = toSettings(target);
  const client =
    settings.mode === 'standalone'
      ? new IORedis(settings.url, {
          ...authOptions(settings),
          lazyConnect: true,
          enableOfflineQueue: false,
          maxRetriesPerRequest: 0,
          connectTimeout: timeoutMs,
          retryStrategy: () => null,
        })
      : createRedisConnection(settings, 'producer');
  client.on('error', () => {});
  try {
    if (client instanceof IORedis && client.status === 'wait') await client.connect();
    await waitUntilReady(client, timeoutMs);
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}
