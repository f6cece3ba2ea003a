import type { TestProject } from 'vitest/node';

import { redactUrl } from '../../src/shared/config.ts';
import { type LocalRedis, startLocalRedis } from '../../src/shared/local-redis.ts';
import { redisAnswers } from '../../src/shared/redis.ts';
import type { HostPort } from '../../src/shared/redis-settings.ts';
import type { TestRedisMode } from './redis.ts';
import { type LocalCluster, startLocalCluster } from './redis-cluster.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    redisMode: TestRedisMode;
    /** The cluster's nodes in the `cluster` project; empty otherwise. */
    redisClusterNodes: HostPort[];
  }
}

let redis: LocalRedis | undefined;
let cluster: LocalCluster | undefined;

/**
 * Runs once per vitest project. `standalone`: REDIS_URL when a Redis answers there, else a
 * private redis-server from PATH on a free port (said in one line when REDIS_URL named one
 * that does not answer). `cluster`: one local Redis Cluster (3 masters, 3 replicas) that every
 * test file of the project shares, each under a hash-tag prefix.
 */
export async function setup(project: TestProject): Promise<void> {
  if (project.name === 'cluster') {
    cluster = await startLocalCluster();
    const first = cluster.nodes[0]!;
    project.provide('redisMode', 'cluster');
    project.provide('redisClusterNodes', cluster.nodes);
    project.provide('redisUrl', `redis://${first.host}:${first.port}`);
    return;
  }
  let url = process.env.REDIS_URL;
  if (!url || !(await redisAnswers(url))) {
    redis = await startLocalRedis();
    if (url)
      console.warn(
        `No Redis answers at ${redactUrl(url)}; the tests use a private one at ${redis.url}`,
      );
    url = redis.url;
  }
  project.provide('redisMode', 'standalone');
  project.provide('redisClusterNodes', []);
  project.provide('redisUrl', url);
}

export async function teardown(): Promise<void> {
  await redis?.stop();
  await cluster?.stop();
}
