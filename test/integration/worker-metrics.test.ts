import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Redis } from '../../src/shared/redis.ts';
import type { JsonMetric } from '../../src/shared/telemetry/metrics-endpoint.ts';
import { deletePrefix, testConnection, testRedisUrl, uniquePrefix } from '../support/redis.ts';
import { runCli, spawnCli, stderrLine } from '../support/run-cli.ts';

describe('askq worker with ASKQ_METRICS_PORT (real processes)', () => {
  const prefix = uniquePrefix('metrics');
  let tmp: string;
  let redis: Redis;
  let env: Record<string, string>;
  let worker: ReturnType<typeof spawnCli>;
  let url: string;

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'askq-metrics-'));
    redis = testConnection();
    env = {
      REDIS_URL: testRedisUrl(),
      ASKQ_PREFIX: prefix,
      ASKQ_LOCAL_STORE_DIR: join(tmp, 'store'),
      ASKQ_METRICS_PORT: '0',
      ASKQ_METRICS_HOST: '127.0.0.1',
    };
    worker = spawnCli(['worker'], env);
    const said = await stderrLine(worker, /metrics at (\S+\/metrics) /);
    url = /metrics at (\S+\/metrics) /.exec(said)![1]!;
  }, 30_000);

  afterAll(async () => {
    if (worker.exitCode === null) {
      const exited = new Promise((resolve) => worker.once('close', resolve));
      worker.kill('SIGTERM');
      await exited;
    }
    await deletePrefix(redis, prefix);
    await redis.quit();
    await rm(tmp, { recursive: true, force: true });
  });

  it('serves the figures of the jobs it ran as Prometheus text and as JSON', async () => {
    const { ASKQ_METRICS_PORT: _, ...askEnv } = env;
    const asked = await runCli(['ask', 'What is LCEL?', '--wait', '--json'], askEnv);
    expect(asked.code).toBe(0);

    const text = await (await fetch(url)).text();
    expect(text).toMatch(/^askq_jobs_total\{[^}]*outcome="completed"[^}]*\} 1$/m);
    expect(text).toMatch(/^askq_stage_duration[_a-z]*_bucket\{[^}]*askq_stage="retrieve"/m);

    const json = (await (await fetch(`${url}.json`)).json()) as { metrics: JsonMetric[] };
    const jobs = json.metrics.find((m) => m.name === 'askq.jobs');
    expect(jobs).toMatchObject({ type: 'counter' });
    expect(jobs?.points).toContainEqual(
      expect.objectContaining({
        attributes: expect.objectContaining({ outcome: 'completed' }),
        value: 1,
      }),
    );
    const stage = json.metrics.find((m) => m.name === 'askq.stage.duration');
    expect(stage?.type).toBe('histogram');
    const retrieve = stage?.points.find((p) => p.attributes['askq.stage'] === 'retrieve');
    expect(retrieve?.value).toMatchObject({ count: 1 });

    expect((await fetch(url.replace(/\/metrics$/, '/nope'))).status).toBe(404);
  });
});
