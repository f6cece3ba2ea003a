import {
  type Attributes,
  INVALID_SPAN_CONTEXT,
  type Link,
  ProxyTracerProvider,
  type Span,
  SpanKind,
  type SpanOptions,
  SpanStatusCode,
  trace,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';

import { coerceError, failureClassOf } from '../errors.ts';

export { SpanKind };

/** askq's tracer; a no-op until an SDK is registered (startTelemetry or the host app's). */
export function tracer(): Tracer {
  return sdkTracer() ?? trace.getTracer('askq');
}

/** What the API's global provider delegates to while no SDK is registered (its no-op). */
const NO_SDK: TracerProvider = new ProxyTracerProvider().getDelegate();

/** The provider the API delegated to last time, and askq's tracer from it. */
let current: { provider: TracerProvider; tracer: Tracer | undefined } | undefined;

/**
 * askq's tracer from the registered SDK, or undefined while none is registered. Looked up per
 * span, as `trace.getTracer` would be (an SDK registered later, or replaced, is picked up), but
 * the tracer itself is kept: `trace.getTracer` hands out a new proxy per call while no SDK is
 * registered, and builds a cache key per call once one is.
 */
export function sdkTracer(): Tracer | undefined {
  const global = trace.getTracerProvider();
  // Another copy of the API (CommonJS beside ESM) has a no-op of its own: its spans then take
  // the general path, which is still right.
  const provider =
    typeof (global as Partial<ProxyTracerProvider>).getDelegate === 'function'
      ? (global as ProxyTracerProvider).getDelegate()
      : global;
  if (current?.provider !== provider) {
    current = { provider, tracer: provider === NO_SDK ? undefined : provider.getTracer('askq') };
  }
  return current.tracer;
}

/**
 * The span a stage gets while no SDK is registered: records nothing, as the API's no-op
 * tracer's would. It is not made active: the no-op's would carry its parent's ids (a context
 * propagated into the job), which the active context carries already.
 */
const UNTRACED: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

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
 * span run inside try/catch: a telemetry bug never changes what `fn` returns or throws. With no
 * SDK registered, `fn` runs as it is, given a span that records nothing.
 */
export function withSpan<T>(
  name: string,
  options: { kind?: SpanKind; attributes?: Attributes; links?: Link[] },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  // Not async: the callback's promise is returned as it is, one promise fewer per span. A
  // synchronous throw still comes back as a rejection.
  try {
    const t = sdkTracer();
    // Without an SDK a span records nothing and its context carries nothing new: skip the
    // no-op span, its context copy and the proxy lookups, which run per stage and per call.
    if (t === undefined) return fn(UNTRACED);
    const spanOptions: SpanOptions = { kind: options.kind ?? SpanKind.INTERNAL };
    if (options.attributes) spanOptions.attributes = options.attributes;
    if (options.links) spanOptions.links = options.links;
    return t.startActiveSpan(name, spanOptions, (span) => {
      let pending: Promise<T>;
      try {
        pending = fn(span);
      } catch (err) {
        endSpan(span, err);
        throw err;
      }
      // Settled by the callback's own promise: no async frame of its own around it.
      return pending.then(
        (result) => {
          endSpan(span);
          return result;
        },
        (err: unknown) => {
          endSpan(span, err);
          throw err;
        },
      );
    });
  } catch (err) {
    return Promise.reject(err as Error);
  }
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
