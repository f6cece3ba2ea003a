import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Redis } from '../../src/shared/redis.ts';
import { type OtlpSink, startOtlpSink } from '../support/otlp-sink.ts';
import { deletePrefix, testConnection, testRedisUrl, uniquePrefix } from '../support/redis.ts';
import { runCli, spawnCli } from '../support/run-cli.ts';

/**
 * `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`, the collector's port 4317: a real CLI process and a real
 * worker process (the embedded default: no API key) export their spans and metrics over
 * OTLP/gRPC to an in-process gRPC receiver, one trace per question across both.
 */
describe('telemetry over OTLP/gRPC', () => {
  const prefix = uniquePrefix('grpc');
  let sink: OtlpSink;
  let redis: Redis;
  let store: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    sink = await startOtlpSink({ grpc: true });
    redis = testConnection();
    store = await mkdtemp(join(tmpdir(), 'askq-grpc-'));
    env = {
      REDIS_URL: testRedisUrl(),
      ASKQ_PREFIX: prefix,
      ASKQ_LOCAL_STORE_DIR: store,
      OTEL_EXPORTER_OTLP_ENDPOINT: sink.grpcUrl!,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_METRIC_EXPORT_INTERVAL: '300',
    };
  });

  afterAll(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
    await sink.close();
    await rm(store, { recursive: true, force: true });
  });

  it('sends the producer span and the metrics to the gRPC endpoint, and nothing over HTTP', async () => {
    const res = await runCli(['ask', 'What does LCEL compose?', '--json'], env);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).not.toContain('warning');
    const { id } = JSON.parse(res.stdout) as { id: string };

    // The CLI flushes before it exits: by now the receiver has what it sent.
    const producer = sink.spans.find((s) => s.name === 'add questions.answer');
    expect(producer, sink.spans.map((s) => s.name).join(', ')).toMatchObject({
      service: 'askq-cli',
      attributes: { 'messaging.system': 'bullmq', 'messaging.destination.name': 'questions' },
    });
    expect(producer!.traceId).toMatch(/^[0-9a-f]{32}$/);
    // The job carries that trace on to whichever worker answers it.
    const job = await redis.hgetall(`${prefix}:questions:${id}`);
    expect(JSON.stringify(job)).toContain(producer!.traceId);

    // A worker answers it: its spans join the trace, and its metrics arrive, over gRPC too.
    const worker = spawnCli(['worker'], { ...env, LOG_LEVEL: 'warn' });
    try {
      await sink.waitFor(
        (spans) =>
          spans.some(
            (s) => s.name === 'process questions' && s.parentSpanId === producer!.spanId,
          ) && sink.grpcMetricRequests > 0,
      );
    } finally {
      const exited = once(worker, 'close');
      worker.kill('SIGTERM');
      await exited;
    }
    const consumer = sink.spans.find((s) => s.name === 'process questions');
    expect(consumer).toMatchObject({ service: 'askq-worker', traceId: producer!.traceId });
    expect(sink.traceRequests).toMatchObject({ json: 0, protobuf: 0 });
    expect(sink.traceRequests.grpc).toBeGreaterThan(1);
  });
});
