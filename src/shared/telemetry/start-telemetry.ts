import { ExportResultCode } from '@opentelemetry/core';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter as OTLPJsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPProtobufTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import {
  type MetricReader,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
} from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace';

import { SECOND } from '../time.ts';
import { within } from '../within.ts';
import { exportsTelemetry } from './start-local-tracing.ts';

/** askq's processes, as they appear in Jaeger. */
export type ServiceName = 'askq-worker' | 'askq-api' | 'askq-cli';

/** A started SDK; `shutdown` flushes what is buffered, bounded so exit never hangs. */
export interface TelemetryHandle {
  readonly enabled: boolean;
  shutdown(): Promise<void>;
}

/**
 * The batch span processor's settings where `OTEL_BSP_*` leaves them unset. Larger than the
 * SDK's (2,048 queued, 512 per export): a worker at thousands of jobs a second ends five or
 * six spans per job, and a queue of 2,048 can fill before one export returns, dropping spans.
 * 8,192 finished spans hold at most about 16 MB while a collector is unreachable.
 */
export const BATCH_SPAN_DEFAULTS = {
  /** OTEL_BSP_MAX_QUEUE_SIZE: spans held before new ones are dropped. */
  maxQueueSize: 8192,
  /** OTEL_BSP_MAX_EXPORT_BATCH_SIZE: spans per OTLP request. */
  maxExportBatchSize: 1024,
  /** OTEL_BSP_SCHEDULE_DELAY: longest a span waits for a batch to fill. */
  scheduledDelayMillis: 2 * SECOND,
  /** OTEL_BSP_EXPORT_TIMEOUT */
  exportTimeoutMillis: 30 * SECOND,
} satisfies Record<string, number>;

/**
 * Starts the OpenTelemetry Node SDK: traces and metrics over OTLP/HTTP JSON, or the protocol
 * the standard variables ask for (traces in protobuf with `http/protobuf`, both over gRPC with
 * `grpc`; see {@link traceProtocol}), configured by the standard variables
 * (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`, `OTEL_SDK_DISABLED`,
 * `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*` over {@link BATCH_SPAN_DEFAULTS},
 * `OTEL_METRICS_EXPORTER=none`, …). Call it first in a process. Nothing is exported unless an OTLP endpoint is set; with one set and no collector
 * listening, export fails quietly (errors go to OTel's diag logger), the batch processor drops
 * spans rather than queueing them forever, and the final flush is bounded to 2 s.
 */
export async function startTelemetry(
  service: ServiceName,
  env: NodeJS.ProcessEnv = process.env,
  /** Readers next to the OTLP one, e.g. the Prometheus endpoint (`ASKQ_METRICS_PORT`). */
  pullReaders: MetricReader[] = [],
): Promise<TelemetryHandle> {
  if (env.OTEL_SDK_DISABLED === 'true') return { enabled: false, shutdown: async () => {} };
  // Without a configured collector, spans are still made (trace ids in logs and results) but
  // not sent: trying localhost:4318 on a laptop would only cost retries at every exit.
  const exporting = exportsTelemetry(env);
  const interval = positive(env.OTEL_METRIC_EXPORT_INTERVAL) ?? 60 * SECOND;
  const metricReaders = [
    ...pullReaders,
    ...(!exporting || env.OTEL_METRICS_EXPORTER === 'none'
      ? []
      : [
          new PeriodicExportingMetricReader({
            exporter: await metricExporter(env),
            exportIntervalMillis: interval,
            exportTimeoutMillis: Math.min(interval, 30 * SECOND),
          }),
        ]),
  ];
  const sdk = new NodeSDK({
    // OTEL_SERVICE_NAME wins when set, as users expect.
    ...(env.OTEL_SERVICE_NAME ? {} : { serviceName: service }),
    spanProcessors: [
      exporting
        ? new BatchSpanProcessor({ exporter: await traceExporter(env), ...batchSpanSettings(env) })
        : new BatchSpanProcessor({ exporter: DROP_SPANS }),
    ],
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

/** The OTLP protocols askq sends (the specification's values of `OTEL_EXPORTER_OTLP_PROTOCOL`). */
const PROTOCOLS = ['http/json', 'http/protobuf', 'grpc'] as const;
export type OtlpProtocol = (typeof PROTOCOLS)[number];

/**
 * How traces are sent: `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`;
 * `http/json` unless one says `http/protobuf` or `grpc` (a value that is neither gets JSON and
 * a warning at start, {@link otlpProtocolWarnings}). JSON by default, unlike the SDK: this
 * SDK's JSON serializer (an object tree, then the native JSON.stringify) takes the worker less
 * than half the time of its protobuf writer, which encodes every string byte by byte in
 * JavaScript and converts every hex id to bytes. That is 20 to 45 µs less CPU per answered
 * question (five spans), the largest single share of askq's own per-job cost in the
 * orchestration benchmark. The price is about 2.7 times the bytes to the collector (3.2 KB
 * instead of 1.2 KB per question), which `http/protobuf` or `grpc` (protobuf too) saves where
 * that link is the scarcer resource.
 */
export function traceProtocol(env: NodeJS.ProcessEnv): OtlpProtocol {
  return knownProtocol(askedProtocol(env, 'TRACES')?.value);
}

/**
 * How metrics are sent: `grpc` when asked for, otherwise OTLP/HTTP JSON, `http/protobuf`
 * included (an OTLP/HTTP receiver takes JSON on the same port; askq ships no protobuf metric
 * exporter).
 */
export function metricsProtocol(env: NodeJS.ProcessEnv): 'http/json' | 'grpc' {
  return knownProtocol(askedProtocol(env, 'METRICS')?.value) === 'grpc' ? 'grpc' : 'http/json';
}

function knownProtocol(value: string | undefined): OtlpProtocol {
  return PROTOCOLS.find((p) => p === value) ?? 'http/json';
}

/** The OTLP protocol a signal's variable (or the general one) asks for, and which variable. */
function askedProtocol(
  env: NodeJS.ProcessEnv,
  signal: 'TRACES' | 'METRICS',
): { name: string; value: string } | undefined {
  for (const name of [`OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`, 'OTEL_EXPORTER_OTLP_PROTOCOL']) {
    const value = env[name]?.trim();
    if (value) return { name, value };
  }
  return undefined;
}

/**
 * What an operator must hear at start when a protocol variable names no OTLP protocol
 * (`http/json`, `http/protobuf`, `grpc`), instead of finding Jaeger empty: that signal is
 * sent as OTLP/HTTP JSON, which a collector's gRPC port refuses. None when nothing is exported
 * (no OTLP endpoint).
 */
export function otlpProtocolWarnings(env: NodeJS.ProcessEnv): string[] {
  if (env.OTEL_SDK_DISABLED === 'true' || !exportsTelemetry(env)) return [];
  const warnings: string[] = [];
  for (const signal of ['TRACES', 'METRICS'] as const) {
    if (signal === 'METRICS' && env.OTEL_METRICS_EXPORTER === 'none') continue;
    const asked = askedProtocol(env, signal);
    if (!asked || PROTOCOLS.some((p) => p === asked.value)) continue;
    warnings.push(
      `${asked.name}=${asked.value} is not an OTLP protocol (${PROTOCOLS.join(', ')}); ` +
        `sending ${signal.toLowerCase()} as http/json, which only an OTLP/HTTP port (4318) takes`,
    );
  }
  return warnings;
}

/** The span exporter for {@link traceProtocol}; the gRPC one (and grpc-js) loaded only when used. */
async function traceExporter(env: NodeJS.ProcessEnv): Promise<SpanExporter> {
  switch (traceProtocol(env)) {
    case 'grpc': {
      const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-grpc');
      return new OTLPTraceExporter();
    }
    case 'http/protobuf':
      return new OTLPProtobufTraceExporter();
    case 'http/json':
      return new OTLPJsonTraceExporter();
  }
}

/** The metric exporter for {@link metricsProtocol}. */
async function metricExporter(env: NodeJS.ProcessEnv): Promise<PushMetricExporter> {
  if (metricsProtocol(env) === 'grpc') {
    const { OTLPMetricExporter: Grpc } = await import('@opentelemetry/exporter-metrics-otlp-grpc');
    return new Grpc();
  }
  return new OTLPMetricExporter();
}

/** An exporter that drops spans at once (no collector configured). */
const DROP_SPANS: SpanExporter = {
  export: (_spans, done) => done({ code: ExportResultCode.SUCCESS }),
  shutdown: async () => {},
};

/** {@link BATCH_SPAN_DEFAULTS} with each `OTEL_BSP_*` variable that is set (and a number) over it. */
export function batchSpanSettings(env: NodeJS.ProcessEnv): typeof BATCH_SPAN_DEFAULTS {
  const d = BATCH_SPAN_DEFAULTS;
  const maxQueueSize = positive(env.OTEL_BSP_MAX_QUEUE_SIZE) ?? d.maxQueueSize;
  return {
    maxQueueSize,
    // The SDK caps a batch at the queue's size (with a warning); do so quietly.
    maxExportBatchSize: Math.min(
      positive(env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE) ?? d.maxExportBatchSize,
      maxQueueSize,
    ),
    scheduledDelayMillis: nonNegative(env.OTEL_BSP_SCHEDULE_DELAY) ?? d.scheduledDelayMillis,
    exportTimeoutMillis: positive(env.OTEL_BSP_EXPORT_TIMEOUT) ?? d.exportTimeoutMillis,
  };
}

function nonNegative(value: string | undefined): number | undefined {
  const n = Number(value);
  return value !== undefined && value !== '' && Number.isFinite(n) && n >= 0 ? n : undefined;
}

function positive(value: string | undefined): number | undefined {
  const n = Number(value);
  return value !== undefined && Number.isFinite(n) && n > 0 ? n : undefined;
}
