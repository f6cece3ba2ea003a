import { context, SpanKind, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { afterAll, describe, expect, it } from 'vitest';

import { activeTraceIds, sdkTracer, withSpan } from '../../src/shared/telemetry/spans.ts';

// One file, one process: the API's globals start empty here, and each step below changes them.
describe('withSpan across the life of the global tracer provider', () => {
  const contextManager = new AsyncLocalStorageContextManager().enable();
  afterAll(() => {
    trace.disable();
    context.disable();
  });

  it('runs the stage without an SDK, passing its result and its failures through', async () => {
    expect(sdkTracer()).toBeUndefined();
    await expect(
      withSpan('stage', {}, async (span) => {
        expect(span.isRecording()).toBe(false);
        return 42;
      }),
    ).resolves.toBe(42);
    await expect(
      withSpan('stage', {}, async () => {
        throw new Error('async failure');
      }),
    ).rejects.toThrow('async failure');
    // A stage that throws before its first await still fails as a rejection, not a throw.
    const thrown = withSpan('stage', {}, () => {
      throw new Error('sync failure');
    });
    await expect(thrown).rejects.toThrow('sync failure');
  });

  it('records spans, nested and active, once an SDK is registered after the first stages ran', async () => {
    const exporter = new InMemorySpanExporter();
    context.setGlobalContextManager(contextManager);
    trace.setGlobalTracerProvider(
      new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }),
    );
    await withSpan('outer', { attributes: { 'askq.step': 1 } }, async (outer) => {
      expect(activeTraceIds()?.spanId).toBe(outer.spanContext().spanId);
      await withSpan('inner', {}, async () => {});
    });
    await expect(
      withSpan('failing', {}, async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    // Thrown before the stage returns a promise: still a rejection, and the span still ends.
    const thrown = withSpan('throwing', { kind: SpanKind.CLIENT }, () => {
      throw new Error('sync boom');
    });
    await expect(thrown).rejects.toThrow('sync boom');
    const spans = exporter.getFinishedSpans();
    const byName = new Map(spans.map((s) => [s.name, s]));
    expect([...byName.keys()].sort()).toEqual(['failing', 'inner', 'outer', 'throwing']);
    expect(byName.get('outer')!.attributes['askq.step']).toBe(1);
    expect(byName.get('inner')!.parentSpanContext?.spanId).toBe(
      byName.get('outer')!.spanContext().spanId,
    );
    expect(byName.get('failing')!.status.code).toBe(2); // ERROR
    expect(byName.get('throwing')!.status).toEqual({ code: 2, message: 'sync boom' });
    expect(byName.get('throwing')!.kind).toBe(SpanKind.CLIENT);
    expect(byName.get('outer')!.kind).toBe(SpanKind.INTERNAL);
  });

  it('follows a provider that replaces the registered one', async () => {
    trace.disable();
    const second = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(
      new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: second })] }),
    );
    await withSpan('after replacement', {}, async () => {});
    expect(second.getFinishedSpans().map((s) => s.name)).toEqual(['after replacement']);
  });

  it('stops recording once the provider is removed', async () => {
    trace.disable();
    expect(sdkTracer()).toBeUndefined();
    await expect(withSpan('untraced', {}, async () => 'ok')).resolves.toBe('ok');
  });
});
