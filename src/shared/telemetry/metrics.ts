import { type Attributes, metrics } from '@opentelemetry/api';

/**
 * askq's OTel instruments, created once. Names follow the GenAI semantic conventions where one
 * exists (`gen_ai.client.*`); askq's own are under `askq.`.
 */
export interface AskqMetrics {
  /** Jobs by outcome: completed | failed | retried | paused. */
  jobs(outcome: string, attributes?: Attributes): void;
  /** Jobs answered by a fallback, by `askq.degraded_reason` (`askq_jobs_degraded_total`). */
  degraded(reason: string): void;
  /** Duration of a pipeline stage (retrieve, generate, score), in seconds. */
  stageDuration(stage: string, seconds: number): void;
  /** Tokens a model call used, by `gen_ai.token.type` (input | output). */
  tokenUsage(tokens: number, attributes: Attributes): void;
  /** Duration of one model call, in seconds. */
  operationDuration(seconds: number, attributes: Attributes): void;
  /** Breaker state per dependency: 0 closed, 1 half-open, 2 open. */
  breakerState(dependency: string, state: 'closed' | 'halfOpen' | 'open'): void;
}

let instance: AskqMetrics | undefined;

const BREAKER_VALUE = { closed: 0, halfOpen: 1, open: 2 } as const;

/** The process's instruments (no-ops until a MeterProvider is registered). */
export function askqMetrics(): AskqMetrics {
  if (instance) return instance;
  const meter = metrics.getMeter('askq');
  const jobs = meter.createCounter('askq.jobs', { description: 'Jobs by outcome' });
  const degraded = meter.createCounter('askq.jobs.degraded', {
    description: 'Jobs answered by a fallback, by reason',
  });
  const stage = meter.createHistogram('askq.stage.duration', {
    description: 'Pipeline stage duration',
    unit: 's',
  });
  const tokens = meter.createHistogram('gen_ai.client.token.usage', {
    description: 'Tokens used per model call',
    unit: '{token}',
  });
  const duration = meter.createHistogram('gen_ai.client.operation.duration', {
    description: 'Model call duration',
    unit: 's',
  });
  const breaker = meter.createGauge('askq.breaker.state', {
    description: 'Breaker state: 0 closed, 1 half-open, 2 open',
  });
  const safe =
    <A extends unknown[]>(fn: (...args: A) => void) =>
    (...args: A) => {
      try {
        fn(...args);
      } catch {
        // Metrics never fail a job.
      }
    };
  instance = {
    jobs: safe((outcome, attributes) => jobs.add(1, { outcome, ...attributes })),
    degraded: safe((reason) => degraded.add(1, { 'askq.degraded_reason': reason })),
    stageDuration: safe((s, seconds) => stage.record(seconds, { 'askq.stage': s })),
    tokenUsage: safe((n, attributes) => tokens.record(n, attributes)),
    operationDuration: safe((seconds, attributes) => duration.record(seconds, attributes)),
    breakerState: safe((dependency, state) =>
      breaker.record(BREAKER_VALUE[state], { 'askq.dependency': dependency }),
    ),
  };
  return instance;
}

/** Something whose job counts by state can be read (a BullMQ Queue). */
export interface CountableQueue {
  readonly name: string;
  getJobCounts(...states: string[]): Promise<Record<string, number>>;
}

const DEPTH_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'];

/**
 * Reports each queue's depth by state as the `askq.queue.depth` gauge, read when metrics are
 * collected (not on a timer of our own). Returns a function that stops it.
 */
export function observeQueueDepth(queues: CountableQueue[]): () => void {
  const gauge = metrics.getMeter('askq').createObservableGauge('askq.queue.depth', {
    description: 'Jobs per queue and state',
  });
  const callback = async (result: { observe(value: number, attributes: Attributes): void }) => {
    for (const queue of queues) {
      try {
        const counts = await queue.getJobCounts(...DEPTH_STATES);
        for (const [state, n] of Object.entries(counts)) {
          result.observe(n, { 'messaging.destination.name': queue.name, 'askq.job.state': state });
        }
      } catch {
        // Redis down: no observation this round.
      }
    }
  };
  gauge.addCallback(callback);
  return () => gauge.removeCallback(callback);
}
