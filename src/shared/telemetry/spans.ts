import {
  type Attributes,
  type Link,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from '@opentelemetry/api';

import { coerceError, failureClassOf } from '../errors.ts';

export { SpanKind };

/** askq's tracer; a no-op until an SDK is registered (startTelemetry or the host app's). */
export function tracer(): Tracer {
  return trace.getTracer('askq');
}

/** Ends a span, recording `err` (type, status, exception) when given. Never throws. */
export function endSpan(span: Span, err?: unknown): void {
  try {
    if (err !== undefined) {
      const e = coerceError(err);
      span.setAttribute('error.type', failureClassOf(e) ?? e.name);
      span.recordException(e);
      span.setStatus({ code: SpanStatusCode.ERROR, message: e.message });
    }
    span.end();
  } catch {
    // Telemetry never fails the caller.
  }
}

/**
 * Runs `fn` inside a new active span, ending it with `fn`'s outcome. Hooks that enrich the
 * span run inside try/catch: a telemetry bug never changes what `fn` returns or throws.
 */
export async function withSpan<T>(
  name: string,
  options: { kind?: SpanKind; attributes?: Attributes; links?: Link[] },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer().startActiveSpan(
    name,
    {
      kind: options.kind ?? SpanKind.INTERNAL,
      ...(options.attributes ? { attributes: options.attributes } : {}),
      ...(options.links ? { links: options.links } : {}),
    },
    async (span) => {
      try {
        const result = await fn(span);
        endSpan(span);
        return result;
      } catch (err) {
        endSpan(span, err);
        throw err;
      }
    },
  );
}

/** Sets attributes on a span, swallowing errors (telemetry never fails a job). */
export function safeSetAttributes(span: Span | undefined, attributes: Attributes): void {
  try {
    span?.setAttributes(attributes);
  } catch {
    // ignore
  }
}

/** Adds an event to the active span, if any. */
export function addActiveSpanEvent(name: string, attributes?: Attributes): void {
  try {
    trace.getActiveSpan()?.addEvent(name, attributes);
  } catch {
    // ignore
  }
}

/** The active span's trace and span ids, or undefined when not tracing. */
export function activeTraceIds(): { traceId: string; spanId: string } | undefined {
  const span = trace.getActiveSpan();
  if (!span) return undefined;
  const ctx = span.spanContext();
  // A recording span is the SDK's, with ids it made or took from a parent it checked: only a
  // non-recording one (no SDK, a propagated context) needs every hex digit checked. Asked
  // twice per job (its result, its log line).
  if (!span.isRecording() && !trace.isSpanContextValid(ctx)) return undefined;
  return { traceId: ctx.traceId, spanId: ctx.spanId };
}
