import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { DelayedError, RateLimitError, UnrecoverableError } from 'bullmq';
import { BullMQOtel } from 'bullmq-otel';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { consumerSpans, withConsumerSpan } from '../../src/shared/telemetry/queue-telemetry.ts';

// One file, one process: the API's globals are this file's.
describe('a worker attempt in its consumer span', () => {
  const exporter = new InMemorySpanExporter();
  const producerTracer = () => trace.getTracer('producer');
  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    trace.setGlobalTracerProvider(
      new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }),
    );
  });
  afterAll(() => {
    trace.disable();
    context.disable();
    propagation.disable();
  });
  beforeEach(() => exporter.reset());

  /** A job as a BullMQ producer with bullmq-otel's telemetry writes it, under `parent`'s span. */
  const jobUnder = (
    id: string,
    parent: ReturnType<ReturnType<typeof producerTracer>['startSpan']>,
  ) => {
    const otel = new BullMQOtel({ tracerName: 'producer' });
    const metadata = otel.contextManager.getMetadata(trace.setSpan(context.active(), parent));
    return { id, opts: { telemetry: { metadata } } };
  };
  const finished = (name: string): ReadableSpan[] =>
    exporter.getFinishedSpans().filter((s) => s.name === name);

  it("continues the producer's trace, is active during the attempt and passes the result on", async () => {
    const producer = producerTracer().startSpan('add questions.answer');
    const job = jobUnder('42', producer);
    producer.end();
    const result = await withConsumerSpan('questions', job, async () => {
      const active = trace.getActiveSpan();
      // The attempt's own spans nest under it.
      trace.getTracer('stage').startSpan('retrieve').end();
      return { answer: 'yes', activeSpanId: active?.spanContext().spanId };
    });
    const [consumer] = finished('process questions');
    expect(consumer).toBeDefined();
    expect(consumer!.spanContext().traceId).toBe(producer.spanContext().traceId);
    expect(consumer!.parentSpanContext?.spanId).toBe(producer.spanContext().spanId);
    expect(result).toEqual({ answer: 'yes', activeSpanId: consumer!.spanContext().spanId });
    expect(finished('retrieve')[0]!.parentSpanContext?.spanId).toBe(consumer!.spanContext().spanId);
    expect(consumer!.kind).toBe(4); // CONSUMER
    expect(consumer!.attributes).toEqual({
      'messaging.system': 'bullmq',
      'messaging.operation.name': 'process',
      'messaging.operation.type': 'process',
      'messaging.destination.name': 'questions',
      'messaging.message.id': '42',
    });
    // The result (an answer) stays out of the span unless content capture is on.
    expect(consumer!.events).toEqual([]);
    await withConsumerSpan('questions', { id: '43' }, async () => ({ answer: 'text' }), {
      captureContent: true,
    });
    const captured = finished('process questions').find(
      (s) => s.attributes['messaging.message.id'] === '43',
    );
    expect(captured!.events.map((e) => [e.name, e.attributes])).toEqual([
      ['job completed', { 'bullmq.job.result': '{"answer":"text"}' }],
    ]);
  });

  it('marks an attempt that ends the job as failed, and not one BullMQ is told to hold back', async () => {
    const outcomes: [string, () => Promise<never>][] = [
      ['1', () => Promise.reject(new UnrecoverableError('invalid question: too long'))],
      ['2', () => Promise.reject(new DelayedError())],
      ['3', () => Promise.reject(new RateLimitError())],
      [
        '4',
        () => {
          throw new Error('thrown before any await');
        },
      ],
    ];
    for (const [id, attempt] of outcomes) {
      await expect(withConsumerSpan('questions', { id }, attempt)).rejects.toBeInstanceOf(Error);
    }
    const events = (id: string) =>
      finished('process questions')
        .find((s) => s.attributes['messaging.message.id'] === id)!
        .events.map((e) => [e.name, e.attributes]);
    expect(events('1')).toEqual([
      ['job failed', { 'bullmq.job.failed.reason': 'invalid question: too long' }],
    ]);
    expect(events('2')).toEqual([]);
    expect(events('3')).toEqual([]);
    expect(events('4')).toEqual([
      ['job failed', { 'bullmq.job.failed.reason': 'thrown before any await' }],
    ]);
  });

  it("starts a trace of its own when a foreign producer's metadata cannot be read", async () => {
    for (const metadata of ['not json', '"a string"', 'null', '{"traceparent":"garbage"}']) {
      await expect(
        withConsumerSpan('questions', { id: metadata, opts: { telemetry: { metadata } } }, () =>
          Promise.resolve('answered'),
        ),
      ).resolves.toBe('answered');
    }
    const spans = finished('process questions');
    expect(spans).toHaveLength(4);
    for (const span of spans) expect(span.parentSpanContext).toBeUndefined();
  });

  it('hands BullMQ a processor that takes the job signal, and passes it through', async () => {
    const seen: unknown[] = [];
    const processor = consumerSpans('ingest', async (job: { id: string }, token, signal) => {
      seen.push(job.id, token, signal);
      return 'done';
    });
    // BullMQ passes a signal only to a processor declaring three parameters.
    expect(processor.length).toBe(3);
    const signal = new AbortController().signal;
    await expect(processor({ id: 'j' }, 'token', signal)).resolves.toBe('done');
    expect(seen).toEqual(['j', 'token', signal]);
    expect(finished('process ingest')).toHaveLength(1);
  });
});
