import { Redis as IORedis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AskqClient, clientOptionsFromConfig } from '../../src/producer/askq-client.ts';
import {
  apiServerOptionsFromConfig,
  createApiServer,
} from '../../src/producer/http/create-api-server.ts';
import { loadConfig } from '../../src/shared/config.ts';
import {
  EvictionCheckUnavailableError,
  EvictionPolicyError,
} from '../../src/shared/eviction-check.ts';
import { type LocalRedis, startLocalRedis } from '../../src/shared/local-redis.ts';
import { ClusterPrefixError } from '../../src/shared/redis-settings.ts';
import { ReplicaWaitError } from '../../src/shared/wait-replicas.ts';
import { AskqWorker, workerOptionsFromConfig } from '../../src/worker/askq-worker.ts';
import { seededFakePorts } from '../support/fake-ports.ts';
import { type LocalCluster, startLocalCluster } from '../support/redis-cluster.ts';
import { waitFor } from '../support/redis-processes.ts';
import { type LocalSentinel, startLocalSentinel } from '../support/redis-sentinel.ts';
import { runCli } from '../support/run-cli.ts';

// Private servers, all with passwords given as ASKQ_REDIS_PASSWORD (never in a URL): a
// Sentinel setup, a 3-master cluster without replicas, and a "managed" standalone Redis
// that hides CONFIG the way hosted services do.
const PASSWORD = 'redis-secret-7f3a9c21';
let sentinel: LocalSentinel;
let cluster: LocalCluster;
let managed: LocalRedis;

beforeAll(async () => {
  [sentinel, cluster, managed] = await Promise.all([
    startLocalSentinel({ password: PASSWORD }),
    startLocalCluster({ replicas: 0, password: PASSWORD }),
    startLocalRedis({ password: PASSWORD, extraArgs: ['--rename-command', 'CONFIG', '""'] }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([sentinel?.stop(), cluster?.stop(), managed?.stop()]);
});

const base = { LOG_LEVEL: 'silent', ASKQ_BACKOFF_MS: '20', ASKQ_BACKOFF_MAX_MS: '100' };

/** A worker on fake ports and a client from the same configuration answer one question. */
async function answerOne(env: Record<string, string>): Promise<void> {
  const config = loadConfig({ ...base, ...env });
  const worker = await AskqWorker.start({
    ...workerOptionsFromConfig(config),
    ports: await seededFakePorts(),
  });
  const client = new AskqClient(clientOptionsFromConfig(config));
  try {
    const { id } = await client.ask({ question: 'How does bullmq retry?' });
    const result = await client.waitForAnswer(id, { timeoutMs: 10_000 });
    expect(result.answer).toBeTruthy();
  } finally {
    await client.close();
    await worker.close(2000);
  }
}

describe('Redis Sentinel', () => {
  it('answers through the master the sentinels name, with a password', async () => {
    await answerOne({ ...sentinel.env, ASKQ_PREFIX: 'modes-sentinel' });
  });

  it('askq config shows the mode and never the passwords', async () => {
    const { code, stdout } = await runCli(['config'], {
      ...sentinel.env,
      ASKQ_REDIS_SENTINEL_PASSWORD: 'sentinel-secret-55e1',
    });
    expect(code).toBe(0);
    const shown = JSON.parse(stdout) as Record<string, unknown>;
    expect(shown.ASKQ_REDIS_MODE).toBe('sentinel');
    expect(shown.ASKQ_REDIS_TARGET).toMatch(/^sentinel "askq-test" via 127\.0\.0\.1:\d+/);
    expect(stdout).not.toContain(PASSWORD);
    expect(stdout).not.toContain('sentinel-secret-55e1');
  });

  // Last of this block: it kills the setup's master.
  it('the API carries on after a failover, without a restart', async () => {
    const config = loadConfig({
      ...base,
      ...sentinel.env,
      ASKQ_PREFIX: 'modes-sentinel-api',
      ASKQ_ALLOW_ANONYMOUS: 'true',
    });
    const api = await createApiServer(apiServerOptionsFromConfig(config));
    const post = () =>
      api.app.inject({ method: 'POST', url: '/v1/questions', payload: { question: 'Still up?' } });
    try {
      expect((await post()).statusCode).toBe(202);
      const master = await sentinel.master();
      await sentinel.kill(master);
      let refused = 0;
      await waitFor(
        async () => {
          const status = (await post()).statusCode;
          if (status === 503) refused += 1;
          else expect(status).toBe(202);
          return status === 202;
        },
        60_000,
        'the API to enqueue again',
      );
      // It did meet the failover (503s while no master answered), then recovered on its own.
      expect(refused).toBeGreaterThan(0);
      // The API's own lookup may have reached a sentinel that switched before the others: one
      // still naming the killed master is not an answer yet, so wait for them all to agree.
      expect(await sentinel.waitFailover(master, 30_000)).not.toBe(master);
    } finally {
      await api.close();
    }
  }, 90_000);
});

describe('Redis Cluster', () => {
  it('answers under a hash-tag prefix, with a password', async () => {
    await answerOne({ ...cluster.env, ASKQ_PREFIX: '{modes-cluster}' });
  });

  it('refuses a prefix without a hash tag: exit 2, one line naming what to set', async () => {
    const { code, stderr } = await runCli(['worker'], { ...cluster.env, ASKQ_PREFIX: 'askq' });
    expect(code).toBe(2);
    const lines = stderr.split('\n').filter((l) => l.includes('ASKQ_PREFIX'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/no hash tag.*set ASKQ_PREFIX=\{askq\}/);
    expect(stderr).not.toContain(PASSWORD);
    // A client class given cluster settings refuses the same way.
    expect(() => new AskqClient({ redis: cluster.settings, prefix: 'askq' })).toThrow(
      ClusterPrefixError,
    );
  });

  it('checks maxmemory-policy on every master, naming the one that would evict', async () => {
    const last = cluster.servers.at(-1)!;
    const admin = new IORedis(last.port, '127.0.0.1', { password: PASSWORD });
    await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    try {
      const config = loadConfig({ ...base, ...cluster.env, ASKQ_PREFIX: '{modes-evict}' });
      const start = AskqWorker.start({
        ...workerOptionsFromConfig(config),
        ports: await seededFakePorts(),
      });
      await expect(start).rejects.toThrow(EvictionPolicyError);
      await expect(start).rejects.toThrow(`on master 127.0.0.1:${last.port}`);
    } finally {
      await admin.config('SET', 'maxmemory-policy', 'noeviction');
      await admin.quit();
    }
  });

  it('askq config shows the mode and never the password', async () => {
    const { code, stdout } = await runCli(['config'], { ...cluster.env, ASKQ_PREFIX: '{askq}' });
    expect(code).toBe(0);
    const shown = JSON.parse(stdout) as Record<string, unknown>;
    expect(shown.ASKQ_REDIS_MODE).toBe('cluster');
    expect(shown.ASKQ_REDIS_TARGET).toBe(`cluster ${cluster.env.ASKQ_REDIS_CLUSTER_NODES}`);
    expect(stdout).not.toContain(PASSWORD);
  });
});

describe('managed Redis that hides CONFIG', () => {
  const env = () => ({
    ...base,
    REDIS_URL: `redis://127.0.0.1:${managed.port}`,
    ASKQ_REDIS_PASSWORD: PASSWORD,
    ASKQ_PREFIX: 'modes-managed',
  });

  it('says why the eviction check cannot run and how to opt out, instead of crashing', async () => {
    const start = AskqWorker.start({
      ...workerOptionsFromConfig(loadConfig(env())),
      ports: await seededFakePorts(),
    });
    await expect(start).rejects.toThrow(EvictionCheckUnavailableError);
    await expect(start).rejects.toThrow(/ASKQ_SKIP_EVICTION_CHECK=true/);
  });

  it('starts and answers with ASKQ_SKIP_EVICTION_CHECK=true', async () => {
    await answerOne({ ...env(), ASKQ_SKIP_EVICTION_CHECK: 'true' });
  });

  it('fails an enqueue no replica confirmed (ASKQ_REDIS_WAIT_REPLICAS)', async () => {
    const config = loadConfig({
      ...env(),
      ASKQ_REDIS_WAIT_REPLICAS: '1',
      ASKQ_REDIS_WAIT_TIMEOUT_MS: '100',
    });
    const client = new AskqClient(clientOptionsFromConfig(config));
    try {
      await expect(client.ask({ question: 'kept by one server only?' })).rejects.toThrow(
        ReplicaWaitError,
      );
    } finally {
      await client.close();
    }
  });
});
