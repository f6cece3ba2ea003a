import { describe, expect, it } from 'vitest';

import {
  BATCH_SPAN_DEFAULTS,
  batchSpanSettings,
  metricsProtocol,
  otlpProtocolWarnings,
  traceProtocol,
} from '../../src/shared/telemetry/start-telemetry.ts';

describe('batchSpanSettings', () => {
  it("uses askq's defaults where OTEL_BSP_* is unset", () => {
    expect(batchSpanSettings({})).toEqual(BATCH_SPAN_DEFAULTS);
  });

  it('takes each OTEL_BSP_* variable that is a number, ignoring the rest', () => {
    expect(
      batchSpanSettings({
        OTEL_BSP_MAX_QUEUE_SIZE: '4096',
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '256',
        OTEL_BSP_SCHEDULE_DELAY: '0',
        OTEL_BSP_EXPORT_TIMEOUT: 'soon',
      }),
    ).toEqual({
      maxQueueSize: 4096,
      maxExportBatchSize: 256,
      scheduledDelayMillis: 0,
      exportTimeoutMillis: BATCH_SPAN_DEFAULTS.exportTimeoutMillis,
    });
  });

  it('never makes a batch larger than the queue', () => {
    expect(batchSpanSettings({ OTEL_BSP_MAX_QUEUE_SIZE: '100' }).maxExportBatchSize).toBe(100);
  });
});

describe('traceProtocol', () => {
  it('sends JSON unless the standard variables ask for protobuf or gRPC', () => {
    expect(traceProtocol({})).toBe('http/json');
    expect(traceProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' })).toBe('http/protobuf');
    expect(traceProtocol({ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' })).toBe(
      'http/protobuf',
    );
    expect(traceProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toBe('grpc');
    // Not an OTLP protocol: JSON (and a warning, below).
    expect(traceProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuff' })).toBe('http/json');
  });

  it('takes the traces variable over the general one', () => {
    expect(
      traceProtocol({
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
      }),
    ).toBe('http/json');
  });
});

describe('metricsProtocol', () => {
  it('sends gRPC when asked, and JSON over HTTP otherwise (protobuf asked for included)', () => {
    expect(metricsProtocol({})).toBe('http/json');
    expect(metricsProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toBe('grpc');
    expect(
      metricsProtocol({
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
        OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/protobuf',
      }),
    ).toBe('http/json');
  });
});

describe('otlpProtocolWarnings', () => {
  const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };

  it('names a value that is no OTLP protocol, for each signal it would export', () => {
    const warnings = otlpProtocolWarnings({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'grcp' });
    expect(warnings).toEqual([
      expect.stringMatching(/^OTEL_EXPORTER_OTLP_PROTOCOL=grcp is not an OTLP protocol .* traces /),
      expect.stringMatching(
        /^OTEL_EXPORTER_OTLP_PROTOCOL=grcp is not an OTLP protocol .* metrics /,
      ),
    ]);
  });

  it('names the signal variable that asked, and skips metrics that are off', () => {
    expect(
      otlpProtocolWarnings({
        ...endpoint,
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/xml',
        OTEL_METRICS_EXPORTER: 'none',
      }),
    ).toEqual([expect.stringMatching(/^OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http\/xml /)]);
  });

  it('says nothing for OTLP protocols, or when nothing is exported', () => {
    expect(otlpProtocolWarnings(endpoint)).toEqual([]);
    for (const protocol of ['http/json', 'http/protobuf', 'grpc'])
      expect(otlpProtocolWarnings({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: protocol })).toEqual(
        [],
      );
    expect(otlpProtocolWarnings({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grcp' })).toEqual([]);
    expect(
      otlpProtocolWarnings({
        ...endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grcp',
        OTEL_SDK_DISABLED: 'true',
      }),
    ).toEqual([]);
  });
});
