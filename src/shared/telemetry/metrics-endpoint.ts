import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import type { DataPoint, Histogram, MetricData } from '@opentelemetry/sdk-metrics';
import { DataPointType } from '@opentelemetry/sdk-metrics';

/** One instrument's points, as `/metrics.json` shows them. */
export interface JsonMetric {
  name: string;
  description: string;
  unit: string;
  type: 'counter' | 'gauge' | 'histogram' | 'sum';
  points: { attributes: Record<string, unknown>; value: number | JsonHistogram }[];
}

interface JsonHistogram {
  count: number;
  sum: number | undefined;
  /** Cumulative counts, Prometheus-style; the last bucket is `+Inf`. */
  buckets: { le: number | '+Inf'; count: number }[];
}

/**
 * The process's OTel metrics (the instruments in `metrics.ts`), pulled on request: Prometheus
 * text on `/metrics`, the same figures as JSON on `/metrics.json`. `reader` goes into the SDK's
 * metric readers (next to the OTLP one), so what is scraped is what is exported.
 */
export class MetricsEndpoint {
  readonly reader = new PrometheusExporter({ preventServerStart: true });
  private server: Server | undefined;

  /** Listens on `host:port` (0: a free port); resolves with the URL of `/metrics`. */
  async listen(port: number, host: string): Promise<string> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/metrics') return this.reader.getMetricsRequestHandler(req, res);
      if (path === '/metrics.json') {
        void this.json().then(
          (body) => {
            res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
            res.end(body);
          },
          (err: unknown) => {
            res.writeHead(500, { 'content-type': 'text/plain' });
            res.end(`could not collect metrics: ${(err as Error).message}\n`);
          },
        );
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found: try /metrics or /metrics.json\n');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    const { port: bound } = server.address() as AddressInfo;
    return `http://${host.includes(':') ? `[${host}]` : host}:${bound}/metrics`;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Every instrument's current points, as JSON text. */
  async json(): Promise<string> {
    const { resourceMetrics } = await this.reader.collect();
    const out = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics.map(toJson));
    return `${JSON.stringify({ metrics: out }, null, 2)}\n`;
  }
}

function toJson(metric: MetricData): JsonMetric {
  const { name, description, unit } = metric.descriptor;
  const type =
    metric.dataPointType === DataPointType.HISTOGRAM ||
    metric.dataPointType === DataPointType.EXPONENTIAL_HISTOGRAM
      ? 'histogram'
      : metric.dataPointType === DataPointType.GAUGE
        ? 'gauge'
        : metric.isMonotonic
          ? 'counter'
          : 'sum';
  const points = (metric.dataPoints as DataPoint<unknown>[]).map((p) => ({
    attributes: { ...p.attributes },
    value: typeof p.value === 'number' ? p.value : histogram(p.value as Histogram),
  }));
  return { name, description, unit, type, points };
}

function histogram(h: Histogram): JsonHistogram {
  let cumulative = 0;
  const buckets: JsonHistogram['buckets'] = h.buckets.boundaries.map((le, i) => {
    cumulative += h.buckets.counts[i] ?? 0;
    return { le, count: cumulative };
  });
  buckets.push({ le: '+Inf', count: h.count });
  return { count: h.count, sum: h.sum, buckets };
}
