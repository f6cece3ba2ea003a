import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { answerResultSchema } from '../../src/shared/contracts.ts';
import { type LocalRedis, startLocalRedis } from '../../src/shared/local-redis.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai-server.ts';
import { type OtlpSink, type SinkSpan, startOtlpSink } from '../support/otlp-sink.ts';
import { runCli, spawnCli } from '../support/run-cli.ts';

/**
 * One trace per question across processes: the CLI's producer span and the worker's spans,
 * exported over OTLP/HTTP to an in-process receiver. Canary secrets are planted in every
 * input and must appear in no output, log or span.
 */
describe('tracing across the CLI and a worker process', () => {
  const canary = {
    openai: 'sk-canary-openai-7f3a9c1e',
    redis: 'canary-redis-pass-42d1',
  };
  let sink: OtlpSink;
  let openai: FakeOpenAI;
  let redis: LocalRedis;
  let store: string;
  let env: Record<string, string>;
  let worker: ReturnType<typeof spawnCli>;
  const outputs: string[] = [];

  const byName = (spans: SinkSpan[], traceId: string, name: string) =>
    spans.filter((s) => s.traceId === traceId && s.name === name);

  beforeAll(async () => {
    sink = await startOtlpSink();
    openai = await startFakeOpenAI({ apiKey: canary.openai });
    redis = await startLocalRedis({ password: canary.redis });
    store = await mkdtemp(join(tmpdir(), 'askq-trace-'));
    env = {
      REDIS_URL: redis.url,
      OPENAI_API_KEY: canary.openai,
      OPENAI_BASE_URL: openai.url,
      ASKQ_VECTOR_STORE: 'local',
      ASKQ_LOCAL_STORE_DIR: store,
      ASKQ_BACKOFF_MS: '20',
      ASKQ_BACKOFF_MAX_MS: '50',
      OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_METRIC_EXPORT_INTERVAL: '500',
      LOG_LEVEL: 'debug',
    };
    worker = spawnCli(['worker', '--concurrency', '2'], env);
    let log = '';
    worker.stdout?.on('data', (d: Buffer) => (log += d.toString()));
    worker.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    worker.on('close', () => outputs.push(log));
    await new Promise<void>((resolve, reject) => {
      worker.stdout?.on('data', () => log.includes('worker started') && resolve());
      worker.on('exit', (code) => reject(new Error(`worker exited ${code}: ${log}`)));
    });
    await writeFile(
      join(store, 'lcel.md'),
      'LCEL composes prompts, models and parsers into chains.',
    );
    const ingest = await runCli(['ingest', join(store, 'lcel.md')], env);
    outputs.push(ingest.stdout, ingest.stderr);
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
    await rm(store, { recursive: true, force: true });
  });

  it('puts the producer span and every worker stage of one question in one trace', async () => {
    const res = await runCli(['ask', 'What does LCEL compose?', '--wait', '--json'], env);
    outputs.push(res.stdout, res.stderr);
    expect(res.code, res.stderr).toBe(0);
    const { traceId } = answerResultSchema.parse(JSON.parse(res.stdout));
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);

    const spans = await sink.waitFor(
      (all) =>
        byName(all, traceId, 'chat gpt-4o-mini').length > 0 &&
        byName(all, traceId, 'add questions.answer').length > 0,
    );
    // Both processes export spans in JSON, the cheaper encoding to produce (and the sink
    // decodes them).
    expect(sink.traceRequests).toMatchObject({ protobuf: 0 });
    expect(sink.traceRequests.json).toBeGreaterThan(0);
    const [producer] = byName(spans, traceId, 'add questions.answer');
    const [consumer] = byName(spans, traceId, 'process questions');
    const [retrieve] = byName(spans, traceId, 'retrieve');
    const [embeddings] = byName(spans, traceId, 'embeddings text-embedding-3-small');
    const [query] = spans.filter((s) => s.traceId === traceId && s.name.startsWith('query '));
    const [chat] = byName(spans, traceId, 'chat gpt-4o-mini');

    expect(producer).toMatchObject({ service: 'askq-cli' });
    expect(producer!.attributes).toMatchObject({
      'messaging.system': 'bullmq',
      'messaging.destination.name': 'questions',
      'messaging.operation.name': 'add',
    });
    expect(consumer).toMatchObject({ service: 'askq-worker', parentSpanId: producer!.spanId });
    expect(consumer!.attributes).toMatchObject({
      'messaging.system': 'bullmq',
      'messaging.destination.name': 'questions',
      'messaging.operation.name': 'process',
      'askq.attempt': 1,
    });
    expect(consumer!.attributes['messaging.message.id']).toBeTruthy();
    // BullMQ's own names for the same facts are not sent twice, nor its result event.
    expect(Object.keys(consumer!.attributes)).not.toContain('bullmq.queue.name');
    expect(Object.keys(consumer!.attributes)).not.toContain('bullmq.job.id');
    expect(consumer!.events.map((e) => e.name)).not.toContain('job completed');
    expect(retrieve!.parentSpanId).toBe(consumer!.spanId);
    expect(embeddings!.parentSpanId).toBe(retrieve!.spanId);
    expect(query!.parentSpanId).toBe(retrieve!.spanId);
    expect(chat!.parentSpanId).toBe(consumer!.spanId);
    expect(chat!.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.response.model': 'gpt-4o-mini',
      'gen_ai.response.finish_reasons': ['stop'],
      'server.address': '127.0.0.1',
    });
    expect(chat!.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    expect(chat!.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
    // Content stays out of spans unless ASKQ_CAPTURE_CONTENT is on.
    const everything = JSON.stringify(spans.filter((s) => s.traceId === traceId));
    expect(everything).not.toContain('What does LCEL compose');
    expect(everything).not.toContain('LCEL composes prompts');
  });

  it('shows each retry attempt as its own consumer span, with the error on the chat span', async () => {
    openai.failNext('chat', { status: 500 });
    const res = await runCli(['ask', 'Again, what does LCEL compose?', '--wait', '--json'], env);
    outputs.push(res.stdout, res.stderr);
    expect(res.code, res.stderr).toBe(0);
    const result = answerResultSchema.parse(JSON.parse(res.stdout));
    expect(result.attempts).toBe(2);
    // Both attempts' consumer spans too: each ends after its chat span and may come in a
    // later export.
    const spans = await sink.waitFor(
      (all) =>
        byName(all, result.traceId, 'chat gpt-4o-mini').length >= 2 &&
        byName(all, result.traceId, 'process questions').length >= 2,
    );
    const attempts = byName(spans, result.traceId, 'process questions');
    expect(attempts.map((s) => s.attributes['askq.attempt']).sort()).toEqual([1, 2]);
    const chats = byName(spans, result.traceId, 'chat gpt-4o-mini');
    const failed = chats.find((s) => s.status.code === 2);
    expect(failed?.attributes['error.type']).toBe('transient');
    const retried = attempts.find((s) => s.attributes['askq.attempt'] === 1);
    expect(retried?.events.map((e) => e.name)).toContain('askq.job.retry');
    // The second attempt resumed at generation: one retrieve span in the whole trace.
    expect(byName(spans, result.traceId, 'retrieve')).toHaveLength(1);
  });

  it('logs carry trace and job ids, and no secret reaches any output, log or span', async () => {
    const exited = new Promise((r) => worker.on('close', r));
    worker.kill('SIGTERM');
    await exited;
    const logs = outputs.join('\n');
    const answered = logs
      .split('\n')
      .filter((l) => l.includes('"msg":"answered"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(answered.length).toBeGreaterThanOrEqual(2);
    for (const line of answered) {
      expect(line.trace_id).toMatch(/^[0-9a-f]{32}$/);
      expect(line.span_id).toMatch(/^[0-9a-f]{16}$/);
      expect(line.job_id).toBeTruthy();
      expect(line.attempt).toBeGreaterThanOrEqual(1);
    }
    // Metrics went out over OTLP too (flushed on shutdown at the latest).
    const metricBodies = sink.raw.filter((b) => b.includes('resourceMetrics')).join('\n');
    for (const name of [
      'askq.jobs',
      'askq.stage.duration',
      'gen_ai.client.token.usage',
      'gen_ai.client.operation.duration',
      'askq.queue.depth',
    ]) {
      expect(metricBodies).toContain(`"${name}"`);
    }
    const everything = [logs, ...sink.raw].join('\n');
    for (const secret of Object.values(canary)) expect(everything).not.toContain(secret);
    expect(sink.raw.length).toBeGreaterThan(0);
  });
});
