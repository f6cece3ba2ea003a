import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  CompositePropagator,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  type Sampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';

import type { TelemetryHandle } from './start-telemetry.ts';

/** True when an OTLP endpoint is configured, so spans or metrics leave the process. */
export function exportsTelemetry(env: NodeJS.ProcessEnv): boolean {
  return Boolean(
    env.OTEL_EXPORTER_OTLP_ENDPOINT ||
    env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ||
    env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
  );
}

/**
 * Tracing for a process that exports nothing (no OTLP endpoint, no metrics endpoint): spans are
 * made, so logs and results carry trace ids and the trace context travels in each job to the
 * worker, but none is kept. The same tracer provider, context manager and W3C propagators the
 * Node SDK registers, without the SDK itself: `@opentelemetry/sdk-node` loads every exporter
 * it could use (about 20 MB of a CLI that only follows a run). `OTEL_TRACES_SAMPLER` is
 * honoured, since the sampled flag travels on to workers that may export.
 */
export function startLocalTracing(env: NodeJS.ProcessEnv = process.env): TelemetryHandle {
  const provider = new TracerProvider({ sampler: samplerFrom(env) });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(
    new CompositePropagator({
      propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
    }),
  );
  trace.setGlobalTracerProvider(provider);
  let done: Promise<void> | undefined;
  return {
    enabled: true,
    shutdown() {
      done ??= provider.shutdown().then(
        () => undefined,
        () => undefined,
      );
      return done;
    },
  };
}

/** The sampler `OTEL_TRACES_SAMPLER` (and its `_ARG`) names; the SDK's default otherwise. */
export function samplerFrom(env: NodeJS.ProcessEnv): Sampler {
  const ratio = Number(env.OTEL_TRACES_SAMPLER_ARG ?? '1');
  const byRatio = () =>
    new TraceIdRatioBasedSampler(Number.isFinite(ratio) && ratio >= 0 && ratio <= 1 ? ratio : 1);
  switch (env.OTEL_TRACES_SAMPLER?.trim().toLowerCase()) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return byRatio();
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: byRatio() });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}
