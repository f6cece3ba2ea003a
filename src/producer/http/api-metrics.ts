import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

import type { Admission } from '../admission.ts';

/**
 * The API's Prometheus metrics: its own requests (prom-client, with the process's default
 * metrics) and BullMQ's queue metrics (`Queue.exportPrometheusMetrics`) for every askq queue.
 */
export class ApiMetrics {
  readonly registry = new Registry();
  readonly #requests: Counter<'method' | 'route' | 'status'>;
  readonly #duration: Histogram<'method' | 'route'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'askq_api_' });
    this.#requests = new Counter({
      name: 'askq_api_http_requests_total',
      help: 'HTTP requests answered, by method, route and status',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
    });
    this.#duration = new Histogram({
      name: 'askq_api_http_request_duration_seconds',
      help: 'Time to answer an HTTP request, by method and route',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60],
      registers: [this.registry],
    });
  }

  /**
   * Redis memory against the high-water mark, read (from the shared cached reading) at each
   * scrape: `askq_redis_memory_used_bytes`, `…_high_water_bytes`, `…_max_bytes` and
   * `askq_admission_refusing` (1 while new questions are refused).
   */
  observeAdmission(admission: Admission): void {
    const gauge = (name: string, help: string, pick: (a: Admission) => number | undefined) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        async collect() {
          // A scrape while Redis is down still answers, without this sample.
          await admission.state().catch(() => undefined);
          const value = pick(admission);
          if (value !== undefined) this.set(value);
        },
      });
    gauge('askq_redis_memory_used_bytes', 'Redis used_memory', (a) => a.latest?.usedBytes);
    gauge(
      'askq_redis_memory_high_water_bytes',
      'Redis memory past which new questions are refused (0: no maxmemory)',
      (a) => a.latest?.highWaterBytes,
    );
    gauge('askq_redis_memory_max_bytes', 'Redis maxmemory (0: unset)', (a) => a.latest?.maxBytes);
    gauge(
      'askq_admission_refusing',
      '1 while producers refuse new questions (Redis memory past the high-water mark)',
      (a) => (a.latest ? Number(a.latest.state === 'refusing') : undefined),
    );
  }

  /** Counts and times every response. Routes are labelled by pattern, so ids add no series. */
  instrument(app: FastifyInstance): void {
    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched';
      this.#requests.inc({ method: request.method, route, status: String(reply.statusCode) });
      this.#duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    });
  }

  /** The exposition text: the API's metrics followed by the queues'. */
  async render(queues: readonly Queue[]): Promise<string> {
    const own = await this.registry.metrics();
    const perQueue = await Promise.all(queues.map((q) => q.exportPrometheusMetrics()));
    return `${own.trimEnd()}\n${mergeFamilies(perQueue)}\n`;
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/**
 * Joins several exposition texts that use the same metric names. The format allows one
 * `# HELP` and `# TYPE` per family and wants a family's samples together, which plain
 * concatenation of BullMQ's per-queue texts would break.
 */
export function mergeFamilies(texts: readonly string[]): string {
  const families = new Map<string, { meta: string[]; samples: string[] }>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { meta: [], samples: [] }));
    return f;
  };
  for (const text of texts) {
    for (const line of text.split('\n')) {
      const meta = /^# (HELP|TYPE) (\S+)/.exec(line);
      if (meta) {
        const f = family(meta[2]!);
        if (!f.meta.some((m) => m.startsWith(`# ${meta[1]} `))) f.meta.push(line);
      } else if (line.trim() !== '' && !line.startsWith('#')) {
        family(/^[^{\s]+/.exec(line)![0]).samples.push(line);
      }
    }
  }
  return [...families.values()].flatMap((f) => [...f.meta, ...f.samples]).join('\n');
}
