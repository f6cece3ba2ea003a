import { context, trace } from '@opentelemetry/api';
import { afterAll, describe, expect, it } from 'vitest';

import { activeTraceIds } from '../../src/shared/telemetry/spans.ts';
import { startLocalTracing } from '../../src/shared/telemetry/start-local-tracing.ts';

describe('activeTraceIds', () => {
  const handle = startLocalTracing({});
  afterAll(() => handle.shutdown());

  it("gives a recording span's own ids", () => {
    trace.getTracer('test').startActiveSpan('job', (span) => {
      expect(activeTraceIds()).toEqual({
        traceId: span.spanContext().traceId,
        spanId: span.spanContext().spanId,
      });
      span.end();
    });
  });

  it('gives none outside a span, or for a non-recording span whose ids are not hex', () => {
    expect(activeTraceIds()).toBeUndefined();
    const bad = trace.wrapSpanContext({ traceId: 'not-hex', spanId: 'nope', traceFlags: 1 });
    expect(context.with(trace.setSpan(context.active(), bad), activeTraceIds)).toBeUndefined();
  });

  it("gives a valid propagated context's ids", () => {
    const ids = { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16) };
    const remote = trace.wrapSpanContext({ ...ids, traceFlags: 1, isRemote: true });
    expect(context.with(trace.setSpan(context.active(), remote), activeTraceIds)).toEqual(ids);
  });
});
