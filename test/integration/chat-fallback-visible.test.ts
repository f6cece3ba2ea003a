import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type LocalRedis, startLocalRedis } from '../../src/shared/local-redis.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai-server.ts';
import { type OtlpSink, startOtlpSink } from '../support/otlp-sink.ts';
import { runCli, spawnCli } from '../support/run-cli.ts';

/**
 * A degraded answer is visible where a person looks: `askq ask` prints the reason, the
 * attempt's span carries it, and the worker exports `askq.jobs.degraded` by reason. Real
 * processes: a worker with ASKQ_CHAT_FALLBACK=extractive, the CLI, the fake's chat all 500s.
 */
describe('a question answered by the chat fallback', () => {
  let sink: OtlpSink;
  let openai: FakeOpenAI;
  let redis: LocalRedis;
  let dir: string;
  let env: Record<string, string>;
  let worker: ReturnType<typeof spawnCli>;

  beforeAll(async () => {
    sink = await startOtlpSink();
    openai = await startFakeOpenAI({
      apiKey: 'sk-fallback-test-key',
      decide: (route) => (route === 'chat' ? { status: 500 } : undefined),
    });
    redis = await startLocalRedis();
    dir = await mkdtemp(join(tmpdir(), 'askq-fallback-'));
    env = {
      REDIS_URL: redis.url,
      OPENAI_API_KEY: 'sk-fallback-test-key',
      OPENAI_BASE_URL: openai.url,
      ASKQ_VECTOR_STORE: 'local',
      ASKQ_LOCAL_STORE_DIR: join(dir, 'store'),
      ASKQ_CHAT_FALLBACK: 'extractive',
      ASKQ_ATTEMPTS: '2',
      ASKQ_BACKOFF_MS: '20',
      ASKQ_BACKOFF_MAX_MS: '50',
      OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_METRIC_EXPORT_INTERVAL: '500',
    };
    worker = spawnCli(['worker'], env);
    let log = '';
    worker.stdout?.on('data', (d: Buffer) => (log += d.toString()));
    await new Promise<void>((resolve, reject) => {
      worker.stdout?.on('data', () => log.includes('worker started') && resolve());
      worker.on('exit', (code) => reject(new Error(`worker exited ${code}: ${log}`)));
    });
    await writeFile(join(dir, 'lcel.md'), 'LCEL composes prompts, models and parsers into chains.');
    const ingest = await runCli(['ingest', join(dir, 'lcel.md')], env);
    expect(ingest.code, ingest.stderr).toBe(0);
  }, 60_000);

  afterAll(async () => {
    if (worker.exitCode === null) {
      const exited = new Promise((r) => worker.on('close', r));
      worker.kill('SIGTERM');
      await exited;
    }
    await openai.close();
    await redis.stop();
    await sink.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('prints the reason, puts it on the span and counts it in askq.jobs.degraded', async () => {
    const res = await runCli(['ask', 'What does LCEL compose?', '--wait'], env);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('[degraded: chat_unavailable]');
    expect(res.stdout).toContain('extractive-v1');
    expect(res.stdout).toContain('lcel.md');
    // Two chat calls: the first attempt's, then the last attempt's before the fallback.
    expect(openai.calls.chat).toBe(2);

    const spans = await sink.waitFor((all) =>
      all.some((s) => s.attributes['askq.degraded_reason'] === 'chat_unavailable'),
    );
    const degraded = spans.find((s) => s.attributes['askq.degraded_reason'] !== undefined);
    expect(degraded).toMatchObject({ name: 'process questions', service: 'askq-worker' });

    const exited = new Promise((r) => worker.on('close', r));
    worker.kill('SIGTERM');
    await exited;
    // Flushed on shutdown at the latest.
    const metrics = sink.raw.filter((b) => b.includes('resourceMetrics')).join('\n');
    expect(metrics).toContain('"askq.jobs.degraded"');
    expect(metrics).toMatch(/"askq\.degraded_reason".{0,80}"chat_unavailable"/);
  });
});
