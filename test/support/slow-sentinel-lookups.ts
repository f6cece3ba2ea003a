import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';

import type { LocalRedis } from '../../src/shared/local-redis.ts';

/** Proxies in front of sentinels that answer master lookups late. */
export interface SlowSentinelLookups {
  /** Where a client finds the sentinels through the proxies. */
  addresses: { host: string; port: number }[];
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of each sentinel that passes everything through, except that on a
 * connection which has asked `SENTINEL get-master-addr-by-name` every reply from then on comes
 * `delayMs` late: what a loaded machine or a slow network does to a client looking for the
 * master. Other connections (a failover detector's subscriptions) are not delayed, so
 * +switch-master reaches the client while its lookup is still unanswered.
 */
export async function slowSentinelLookups(
  sentinels: LocalRedis[],
  delayMs: number,
): Promise<SlowSentinelLookups> {
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const servers = sentinels.map((sentinel) =>
    createServer((client) => {
      const upstream = connect(sentinel.port, '127.0.0.1');
      track(client);
      track(upstream);
      let lookedUp = false;
      client.on('data', (chunk: Buffer) => {
        if (chunk.includes('get-master-addr-by-name')) lookedUp = true;
        upstream.write(chunk);
      });
      upstream.on('data', (chunk: Buffer) => {
        if (!lookedUp) client.write(chunk);
        else setTimeout(() => client.writable && client.write(chunk), delayMs);
      });
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => setTimeout(() => client.destroy(), lookedUp ? delayMs : 0));
    }),
  );
  await Promise.all(servers.map((s) => once(s.listen(0, '127.0.0.1'), 'listening')));
  return {
    addresses: servers.map((s) => ({ host: '127.0.0.1', port: (s.address() as AddressInfo).port })),
    async close() {
      for (const socket of sockets) socket.destroy();
      await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    },
  };
}
