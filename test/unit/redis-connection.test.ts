import type { Redis as IORedis } from 'ioredis';
import { Cluster, SentinelConnector } from 'ioredis';
import { describe, expect, it } from 'vitest';

import { createRedisConnection, type Redis } from '../../src/shared/redis.ts';

// Nothing listens on port 1: the connections fail, and only the options they were built with
// are looked at. TLS itself needs certificates this suite does not have.
const closed = { host: '127.0.0.1', port: 1 };
const auth = { username: 'askq', password: 'pw-1', tls: true };

function built(client: Redis) {
  client.disconnect();
  return client;
}

describe('the connection factory', () => {
  it('passes auth and TLS to a standalone server, worker and producer roles apart', () => {
    const worker = built(
      createRedisConnection({ mode: 'standalone', url: 'redis://127.0.0.1:1', ...auth }, 'worker'),
    ) as IORedis;
    expect(worker.options).toMatchObject({ maxRetriesPerRequest: null, password: 'pw-1', tls: {} });
    const producer = built(createRedisConnection('redis://127.0.0.1:1', 'producer')) as IORedis;
    expect(producer.options).toMatchObject({ maxRetriesPerRequest: 1, enableOfflineQueue: false });
    expect(producer.options.tls).toBeUndefined();
  });

  it('passes them to every node of a cluster, with the role on each node', () => {
    const client = built(
      createRedisConnection({ mode: 'cluster', nodes: [closed], ...auth }, 'worker'),
    );
    expect(client).toBeInstanceOf(Cluster);
    expect((client as Cluster).options.redisOptions).toMatchObject({
      maxRetriesPerRequest: null,
      username: 'askq',
      password: 'pw-1',
      tls: {},
    });
  });

  it('passes them to the master found through Sentinel, and TLS to the sentinels too', () => {
    const client = built(
      createRedisConnection(
        { mode: 'sentinel', sentinels: [closed], name: 'm', sentinelPassword: 'pw-s', ...auth },
        'worker',
      ),
    ) as IORedis;
    expect(client.options).toMatchObject({
      name: 'm',
      password: 'pw-1',
      sentinelPassword: 'pw-s',
      tls: {},
      enableTLSForSentinelMode: true,
      failoverDetector: true,
    });
    // askq's connector (src/shared/redis.ts), also in a duplicate: BullMQ's blocking connection.
    const connector = (c: IORedis) => (c as unknown as { connector: object }).connector;
    expect(connector(client)).toBeInstanceOf(SentinelConnector);
    expect(connector(client).constructor.name).toBe('SentinelReconnector');
    const duplicate = built(client.duplicate()) as IORedis;
    expect(connector(duplicate).constructor).toBe(connector(client).constructor);
  });
});
