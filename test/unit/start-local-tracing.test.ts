import { context, propagation, trace } from '@opentelemetry/api';
import { afterAll, describe, expect, it } from 'vitest';

import {
  exportsTelemetry,
  samplerFrom,
  startLocalTracing,
} from '../../src/shared/telemetry/start-local-tracing.ts';

describe('local tracing (no OTLP endpoint)', () => {
  const handle = startLocalTracing({});
  afterAll(() => handle.shutdown());

  it('makes real spans whose context travels in a W3C traceparent', () => {
    const tracer = trace.getTracer('test');
    const carrier: Record<string, string> = {};
    let traceId = '';
    tracer.startActiveSpan('outer', (span) => {
      traceId = span.spanContext().traceId;
      expect(span.isRecording()).toBe(true);
      // The active context survives an await-free nested call and is what gets injected.
      expect(trace.getActiveSpan()).toBe(span);
      propagation.inject(context.active(), carrier);
      span.end();
    });
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(traceId).not.toBe('0'.repeat(32));
    expect(carrier.traceparent).toBe(`00-${traceId}-${carrier.traceparent!.split('-')[2]}-01`);
  });

  it('keeps the active span across an await (async context manager)', async () => {
    const tracer = trace.getTracer('test');
    await tracer.startActiveSpan('outer', async (span) => {
      await new Promise((resolve) => setImmediate(resolve));
      expect(trace.getActiveSpan()?.spanContext().spanId).toBe(span.spanContext().spanId);
      span.end();
    });
  });
});

describe('exportsTelemetry', () => {
  it('is true only when an OTLP endpoint is configured', () => {
    expect(exportsTelemetry({})).toBe(false);
    expect(exportsTelemetry({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(
      exportsTelemetry({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' }),
    ).toBe(true);
  });
});

describe('samplerFrom', () => {
  it('follows OTEL_TRACES_SAMPLER, parent-based always-on by default', () => {
    expect(samplerFrom({}).toString()).toMatch(/ParentBased\{root=AlwaysOnSampler/);
    expect(samplerFrom({ OTEL_TRACES_SAMPLER: 'always_off' }).toString()).toBe('AlwaysOffSampler');
    expect(
      samplerFrom({
        OTEL_TRACES_SAMPLER: 'traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.25',
      }).toString(),
    ).toBe('TraceIdRatioBased{0.25}');
    expect(
      samplerFrom({
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '2',
      }).toString(),
    ).toMatch(/ParentBased\{root=TraceIdRatioBased\{1\}/);
  });
});
