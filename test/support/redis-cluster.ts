import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { Redis as IORedis } from 'ioredis';

import { type LocalRedis, startLocalRedis } from '../../src/shared/local-redis.ts';
import type { HostPort, RedisSettings } from '../../src/shared/redis-settings.ts';
import { killOnExit, stopAll, waitFor } from './redis-processes.ts';

const run = promisify(execFile);

/** A local Redis Cluster: masters with one replica each, on free ports in temp folders. */
export interface LocalCluster {
  /** Every node started, masters first as created (roles change after a failover). */
  servers: LocalRedis[];
  nodes: HostPort[];
  /** Settings for askq's connection factory. */
  settings: RedisSettings;
  /** Environment for an askq process (ASKQ_PREFIX is the caller's, with a hash tag). */
  env: Record<string, string>;
  /** The server that is master of `key`'s slot now. */
  masterOf(key: string): Promise<LocalRedis>;
  /** SIGKILLs a node and resolves once it exited. */
  kill(server: LocalRedis): Promise<void>;
  /** Starts a killed node again on its port and folder: it rejoins, as a replica if replaced. */
  restart(server: LocalRedis): Promise<LocalRedis>;
  /** Resolves when every live node reports the cluster ok and every replica is in sync. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Kills every node (also the ones a test already killed) and removes their folders. */
  stop(): Promise<void>;
}

export interface LocalClusterOptions {
  /** @defaultValue 3 */
  masters?: number;
  /** Replicas per master: 1, or 0 for a lighter cluster that never fails over. @defaultValue 1 */
  replicas?: 0 | 1;
  /** Every node requires it (`requirepass`, and `masterauth` for replicas). @defaultValue none */
  password?: string;
  /**
   * How long a master may be unreachable before its replica takes over. Short, so a fault
   * test's failover takes about two seconds. @defaultValue 1000
   */
  nodeTimeoutMs?: number;
}

interface NodeOptions {
  nodeTimeoutMs: number;
  password?: string;
}

/**
 * Starts the masters and replicas (`redis-server --cluster-enabled yes`, in parallel, no
 * persistence), joins them with `redis-cli --cluster create`, and resolves once the cluster
 * is ok and every replica is in sync.
 */
export async function startLocalCluster(options: LocalClusterOptions = {}): Promise<LocalCluster> {
  const masters = options.masters ?? 3;
  const replicas = options.replicas ?? 1;
  const { password } = options;
  const node: NodeOptions = {
    nodeTimeoutMs: options.nodeTimeoutMs ?? 1000,
    ...(password ? { password } : {}),
  };
  const servers: LocalRedis[] = [];
  try {
    await Promise.all(
      Array.from({ length: masters * (1 + replicas) }, async () => {
        const server = await startNode(node);
        killOnExit(server);
        servers.push(server);
      }),
    );
    await run('redis-cli', [
      ...(password ? ['--no-auth-warning', '-a', password] : []),
      '--cluster',
      'create',
      ...servers.map((s) => `127.0.0.1:${s.port}`),
      '--cluster-replicas',
      String(replicas),
      '--cluster-yes',
    ]);
  } catch (err) {
    await stopAll(servers);
    throw err;
  }
  const nodes = servers.map((s) => ({ host: '127.0.0.1', port: s.port }));
  const cluster: LocalCluster = {
    servers,
    nodes,
    settings: { mode: 'cluster', nodes, ...(password ? { password } : {}) },
    env: {
      ASKQ_REDIS_CLUSTER_NODES: nodes.map((n) => `${n.host}:${n.port}`).join(','),
      ...(password ? { ASKQ_REDIS_PASSWORD: password } : {}),
    },
    async masterOf(key) {
      const port = await ask(
        servers,
        async (c) => {
          const slot = Number(await c.cluster('KEYSLOT', key));
          const ranges = await c.cluster('SLOTS');
          return ranges.find(([from, to]) => slot >= from && slot <= to)?.[2]?.[1];
        },
        password,
      );
      const server = servers.find((s) => s.port === port && alive(s));
      if (!server) throw new Error(`no live master holds the slot of ${key}`);
      return server;
    },
    async kill(server) {
      if (!alive(server)) return;
      const exited = new Promise((resolve) => server.process.once('exit', resolve));
      server.process.kill('SIGKILL');
      await exited;
    },
    async restart(server) {
      const again = await startNode(node, server);
      killOnExit(again);
      servers.push(again);
      return again;
    },
    waitHealthy: (timeoutMs = 20_000) =>
      waitFor(() => clusterHealthy(servers, password), timeoutMs, 'cluster ok'),
    stop: () => stopAll(servers),
  };
  try {
    await cluster.waitHealthy();
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

/**
 * One cluster node: new, on free ports (its bus's too, since the default, port + 10000, may be
 * taken), or `previous` restarted on its ports and folder (with its nodes.conf).
 */
async function startNode(
  { nodeTimeoutMs, password }: NodeOptions,
  previous?: LocalRedis,
): Promise<LocalRedis> {
  return startLocalRedis({
    ...(previous ? { port: previous.port, dir: previous.dir } : {}),
    clusterPort: previous?.clusterPort ?? 'free',
    ...(password ? { password } : {}),
    extraArgs: [
      ...(password ? ['--masterauth', password] : []),
      '--cluster-config-file',
      'nodes.conf',
      '--cluster-node-timeout',
      String(nodeTimeoutMs),
      // A replica whose master died takes over however long it was cut off.
      '--cluster-replica-validity-factor',
      '0',
    ],
  });
}

const alive = (s: LocalRedis) => s.process.exitCode === null && s.process.signalCode === null;

/** Runs `fn` on a short-lived connection to the first live node. */
async function ask<T>(
  servers: LocalRedis[],
  fn: (client: IORedis) => Promise<T>,
  password?: string,
): Promise<T> {
  const server = servers.find(alive);
  if (!server) throw new Error('no live cluster node');
  const client = new IORedis(server.port, '127.0.0.1', {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    ...(password ? { password } : {}),
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

/** Every live node says `cluster_state:ok`, and every live replica's link to its master is up. */
async function clusterHealthy(servers: LocalRedis[], password?: string): Promise<boolean> {
  for (const server of servers.filter(alive)) {
    const ok = await ask(
      [server],
      async (c) => {
        const info = await c.cluster('INFO');
        if (!/cluster_state:ok/.test(String(info))) return false;
        const replication = await c.info('replication');
        return !/role:slave/.test(replication) || /master_link_status:up/.test(replication);
      },
      password,
    ).catch(() => false);
    if (!ok) return false;
  }
  return true;
}
