import { Redis as IORedis } from 'ioredis';

import type { LocalRedis } from '../../src/shared/local-redis.ts';

const running = new Set<LocalRedis>();
let hooked = false;

/**
 * Kills `server` when the test process exits whatever the way (a failed hook, a crash), so no
 * redis-server outlives the run; `stopAll` is the normal path.
 */
export function killOnExit(server: LocalRedis): void {
  running.add(server);
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const s of running) s.process.kill('SIGKILL');
  });
}

/** Stops every server (those already killed by a test too) and removes their folders. */
export async function stopAll(servers: Iterable<LocalRedis>): Promise<void> {
  const list = [...servers];
  // Live ones first, all at once; then the killed ones, whose folders a restarted server on
  // the same port may have been using.
  const dead = list.filter((s) => s.process.exitCode !== null || s.process.signalCode !== null);
  await Promise.all(list.filter((s) => !dead.includes(s)).map((s) => s.stop()));
  for (const s of dead) await s.stop();
  for (const s of list) running.delete(s);
}

/** Polls `check` until it holds; rejects after `timeoutMs` naming what it waited for. */
export async function waitFor(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The `INFO replication` of a server, on a short-lived connection. */
export async function replicationInfo(server: LocalRedis, password?: string): Promise<string> {
  const client = new IORedis(server.port, '127.0.0.1', {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    ...(password ? { password } : {}),
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return await client.info('replication');
  } finally {
    client.disconnect();
  }
}

/** Resolves once `server` is a replica whose link to its master is up (a restarted node). */
export async function waitReplicaInSync(
  server: LocalRedis,
  timeoutMs: number,
  password?: string,
): Promise<void> {
  await waitFor(
    async () => {
      const info = await replicationInfo(server, password).catch(() => '');
      return /role:slave/.test(info) && /master_link_status:up/.test(info);
    },
    timeoutMs,
    `:${server.port} to sync as a replica`,
  );
}
