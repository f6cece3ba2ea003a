import { afterEach, expect, it } from 'vitest';

import { createRedisConnection, type Redis } from '../../src/shared/redis.ts';
import { waitFor } from '../support/redis-processes.ts';
import { type LocalSentinel, startLocalSentinel } from '../support/redis-sentinel.ts';
import { type SlowSentinelLookups, slowSentinelLookups } from '../support/slow-sentinel-lookups.ts';

/** How late the sentinels answer a master lookup: longer than a failover takes here. */
const LOOKUP_DELAY_MS = 3000;

let setup: LocalSentinel | undefined;
let proxies: SlowSentinelLookups | undefined;
let client: Redis | undefined;
afterEach(async () => {
  client?.disconnect();
  await proxies?.close();
  await setup?.stop();
  client = proxies = setup = undefined;
});

// ioredis ends a Sentinel client for good when the failover it is reconnecting through is
// announced (+switch-master) while it is still asking the sentinels for the master; askq's
// connections guard against it (src/shared/redis.ts, SentinelReconnector).
it('a Sentinel connection reaches the new master when the failover is announced mid-lookup', async () => {
  setup = await startLocalSentinel();
  proxies = await slowSentinelLookups(setup.sentinels, LOOKUP_DELAY_MS);
  const connection = createRedisConnection(
    { mode: 'sentinel', name: setup.name, sentinels: proxies.addresses },
    'worker',
  );
  client = connection;
  let ended = false;
  connection.on('end', () => (ended = true));
  await waitFor(async () => connection.status === 'ready', 20_000, 'the first connection');
  const old = await setup.master();

  await setup.kill(old);
  const promoted = await setup.waitFailover(old, 60_000);

  await waitFor(
    async () => {
      if (ended) return true;
      if (connection.status !== 'ready') return false;
      const info = await connection.info('server').catch(() => '');
      return new RegExp(`^tcp_port:${promoted.port}\\r?$`, 'm').test(info);
    },
    30_000,
    'the connection to answer from the promoted master',
  );
  expect(ended, 'ioredis gave the connection up (status end)').toBe(false);
  expect(await connection.ping()).toBe('PONG');
}, 120_000);
