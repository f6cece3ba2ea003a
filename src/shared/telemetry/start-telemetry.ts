import { ExportResultCode } from '@opentelemetry/core';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { type MetricReader, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import type { SpanExporter } from '@opentelemetry/sdk-trace';

import { SECOND } from '../time.ts';
import { within } from '../within.ts';

/** askq's processes, as they appear in Jaeger. */
export type ServiceName = 'askq-worker' | 'askq-api' | 'askq-cli';

/** A started SDK; `shutdown` flushes what is buffered, bounded so exit never hangs. */
export interface TelemetryHandle {
  readonly enabled: boolean;
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry Node SDK: traces and metrics over OTLP/HTTP, configured by the
 * standard variables (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`, `OTEL_SDK_DISABLED`,
 * `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`, `OTEL_METRICS_EXPORTER=none`, …). Call it first in a
 * process. Nothing is exported unless an OTLP endpoint is set; with one set and no collector
 * listening, export fails quietly (errors go to OTel's diag logger), the batch processor drops
 * spans rather than queueing them forever, and the final flush is bounded to 2 s.
 */
export function startTelemetry(
  service: ServiceName,
  env: NodeJS.ProcessEnv = process.env,
  /** Readers next to the OTLP one, e.g. the Prometheus endpoint (`ASKQ_METRICS_PORT`). */
  pullReaders: MetricReader[] = [],
): TelemetryHandle {
  if (env.OTEL_SDK_DISABLED === 'true') return { enabled: false, shutdown: async () => {} };
  // Without a configured collector, spans are still made (trace ids in logs and results) but
  // not sent: trying localhost:4318 on a laptop would only cost retries at every exit.
  const exporting = Boolean(
    env.OTEL_EXPORTER_OTLP_ENDPOINT ||
    env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ||
    env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
  );
  const interval = positive(env.OTEL_METRIC_EXPORT_INTERVAL) ?? 60 * SECOND;
  const metricReaders = [
    ...pullReaders,
    ...(!exporting || env.OTEL_METRICS_EXPORTER === 'none'
      ? []
      : [
          new PeriodicExportingMetricReader({
            exporter: new OTLPMetricExporter(),
            exportIntervalMillis: interval,
            exportTimeoutMillis: Math.min(interval, 30 * SECOND),
          }),
        ]),
  ];
  const sdk = new NodeSDK({
    // OTEL_SERVICE_NAME wins when set, as users expect.
    ...(env.OTEL_SERVICE_NAME ? {} : { serviceName: service }),
    traceExporter: exporting ? new OTLPTraceExporter() : DROP_SPANS,
    metricReaders,
    instrumentations: [],
  });
  try {
    sdk.start();
  } catch {
    // Telemetry never stops the process.
    return { enabled: false, shutdown: async () => {} };
  }
  let done: Promise<void> | undefined;
  return {
    enabled: true,
    shutdown() {
      done ??= within(
        sdk.shutdown().catch(() => {}),
        2 * SECOND,
      ).then(() => undefined);
      return done;
    },
  };
}

/** An exporter that drops spans at once (no collector configured). */
const DROP_SPANS: SpanExporter = {
  export: (_spans, done) => done({ code: ExportResultCode.SUCCESS }),
  shutdown: async () => {},
};

function positive(value: string | undefined): number | undefined {
  const n = Number(value);
  return value !== undefined && Number.isFinite(n) && n > 0 ? n : undefined;
}
