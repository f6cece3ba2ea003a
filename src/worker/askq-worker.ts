import { Queue, Worker } from 'bullmq';

import type { Config } from '../shared/config.ts';
import { INGEST_QUEUE, QUESTIONS_QUEUE } from '../shared/contracts.ts';
import { createLogger, type Logger } from '../shared/logger.ts';
import {
  assertNoEviction,
  createRedisConnection,
  type Redis,
  waitUntilReady,
} from '../shared/redis.ts';
import { askqMetrics, observeQueueDepth } from '../shared/telemetry/metrics.ts';
import { createQueueTelemetry } from '../shared/telemetry/queue-telemetry.ts';
import { addActiveSpanEvent } from '../shared/telemetry/spans.ts';
import { MINUTE, SECOND } from '../shared/time.ts';
import { within } from '../shared/within.ts';
import { AnswerCache, corpusVersionKey } from './answer-cache.ts';
import { createAnswerProcessor } from './processors/answer-processor.ts';
import { createIngestProcessor } from './processors/ingest-processor.ts';
import { createProviders } from './providers/create-providers.ts';
import {
  type BreakerState,
  type Dependency,
  DependencyGuard,
} from './resilience/dependency-guard.ts';
import type { Guards, Ports } from './resilience/guarded-ports.ts';
import { NO_LIMIT, pauseQueue } from './resilience/pause-queue.ts';
import { TokenBudget } from './resilience/token-budget.ts';

export interface AskqWorkerOptions {
  config: Config;
  /** @defaultValue a pino logger at config.LOG_LEVEL */
  logger?: Logger;
  /** Jobs this process runs at once. @defaultValue config.ASKQ_CONCURRENCY */
  concurrency?: number;
  /** Ports to use instead of the configured providers (tests, benchmarks). */
  ports?: Ports;
  /** Called on breaker state changes. */
  onBreakerStateChange?: (dependency: Dependency, state: BreakerState) => void;
}

/**
 * A worker process's BullMQ workers (questions and ingestion) over one shared Redis
 * connection, with one guard (breaker + timeouts) per dependency.
 */
export class AskqWorker {
  readonly questions: Worker;
  readonly ingest: Worker;
  readonly guards: Guards;
  readonly ports: Ports;
  private readonly queues: { questions: Queue; ingest: Queue };
  private readonly connection: Redis;
  private readonly logger: Logger;
  private readonly ownsPorts: boolean;
  private closing: Promise<void> | undefined;
  private readonly stopObserving: () => void;

  private constructor(fields: {
    questions: Worker;
    ingest: Worker;
    guards: Guards;
    ports: Ports;
    queues: { questions: Queue; ingest: Queue };
    connection: Redis;
    logger: Logger;
    ownsPorts: boolean;
  }) {
    this.queues = fields.queues;
    this.stopObserving = observeQueueDepth(Object.values(fields.queues));
    this.questions = fields.questions;
    this.ingest = fields.ingest;
    this.guards = fields.guards;
    this.ports = fields.ports;
    this.connection = fields.connection;
    this.logger = fields.logger;
    this.ownsPorts = fields.ownsPorts;
  }

  /**
   * Connects, refuses to start unless Redis's maxmemory-policy is `noeviction`, builds the
   * providers and starts taking jobs.
   */
  static async start(options: AskqWorkerOptions): Promise<AskqWorker> {
    const { config } = options;
    const logger = options.logger ?? createLogger({ level: config.LOG_LEVEL, name: 'askq-worker' });
    const connection = createRedisConnection(config.REDIS_URL, 'worker');
    try {
      await waitUntilReady(connection, 10_000);
      await assertNoEviction(connection);
    } catch (err) {
      connection.disconnect();
      throw err;
    }
    const ports = options.ports ?? (await createProviders(config, logger));
    const guardOptions = {
      callTimeoutMs: config.ASKQ_CALL_TIMEOUT_MS,
      errorThresholdPercentage: config.ASKQ_BREAKER_ERROR_PERCENT,
      volumeThreshold: config.ASKQ_BREAKER_VOLUME,
      resetTimeoutMs: config.ASKQ_BREAKER_RESET_MS,
      rollingCountTimeoutMs: config.ASKQ_BREAKER_WINDOW_MS,
      logger,
      onStateChange: (dependency: Dependency, state: BreakerState) => {
        askqMetrics().breakerState(dependency, state);
        addActiveSpanEvent(`askq.breaker.${state}`, { 'askq.dependency': dependency });
        options.onBreakerStateChange?.(dependency, state);
      },
    };
    const guards: Guards = {
      chat: new DependencyGuard('chat', guardOptions),
      embeddings: new DependencyGuard('embeddings', guardOptions),
      vectorStore: new DependencyGuard('vectorStore', guardOptions),
    };
    const policy = {
      attempts: config.ASKQ_ATTEMPTS,
      baseMs: config.ASKQ_BACKOFF_MS,
      maxMs: config.ASKQ_BACKOFF_MAX_MS,
      deadlineMs: config.ASKQ_JOB_DEADLINE_MS,
    };
    // Queue handles only for the queue-wide rate limit that pauses every worker.
    const queues = {
      questions: new Queue(QUESTIONS_QUEUE, { connection, prefix: config.ASKQ_PREFIX }),
      ingest: new Queue(INGEST_QUEUE, { connection, prefix: config.ASKQ_PREFIX }),
    };
    const telemetry = createQueueTelemetry({ captureContent: config.ASKQ_CAPTURE_CONTENT });
    const common = {
      connection,
      telemetry,
      prefix: config.ASKQ_PREFIX,
      autorun: true,
      maxStartedAttempts: config.ASKQ_MAX_STARTED_ATTEMPTS,
      lockDuration: config.ASKQ_LOCK_DURATION_MS,
      stalledInterval: config.ASKQ_STALLED_INTERVAL_MS,
      maxStalledCount: config.ASKQ_MAX_STALLED_COUNT,
      // Retention for jobs whose producer set none (a foreign backend's plain add), so Redis
      // memory stays bounded whoever enqueued; a job's own options win (askq's client sets
      // the same bounds).
      removeOnComplete: { count: config.ASKQ_KEEP_COMPLETED, age: config.ASKQ_KEEP_SECONDS },
      removeOnFail: { count: config.ASKQ_KEEP_FAILED, age: config.ASKQ_KEEP_SECONDS },
    };
    const questions = new Worker(
      QUESTIONS_QUEUE,
      createAnswerProcessor({
        ports,
        guards,
        policy,
        logger,
        defaultNamespace: config.ASKQ_NAMESPACE,
        defaultTopK: config.ASKQ_TOP_K,
        retrievalFallback: config.ASKQ_RETRIEVAL_FALLBACK,
        ...(config.ASKQ_CACHE === 'on'
          ? {
              cache: new AnswerCache({
                redis: connection,
                prefix: config.ASKQ_PREFIX,
                ttlSeconds: config.ASKQ_CACHE_TTL,
              }),
            }
          : {}),
        ...(config.ASKQ_LLM_TPM
          ? {
              tokenBudget: new TokenBudget({
                redis: connection,
                prefix: config.ASKQ_PREFIX,
                tokensPerMinute: config.ASKQ_LLM_TPM,
              }),
            }
          : {}),
        captureContent: config.ASKQ_CAPTURE_CONTENT,
        pauseQueue: (ms) => pauseQueue(connection, queues.questions, ms),
      }),
      {
        ...common,
        concurrency: options.concurrency ?? config.ASKQ_CONCURRENCY,
        limiter: config.ASKQ_LLM_RPM ? rpmLimiter(config.ASKQ_LLM_RPM) : NO_LIMIT,
      },
    );
    const ingest = new Worker(
      INGEST_QUEUE,
      createIngestProcessor({
        ports,
        guards,
        policy,
        logger,
        defaultNamespace: config.ASKQ_NAMESPACE,
        pauseQueue: (ms) => pauseQueue(connection, queues.ingest, ms),
        bumpCorpus: async (ns) => {
          await connection.incr(corpusVersionKey(config.ASKQ_PREFIX, ns));
        },
      }),
      // Ingest batches are large; a few at a time keeps the vector store's writes sane.
      { ...common, concurrency: 2, limiter: NO_LIMIT },
    );
    for (const w of [questions, ingest]) {
      w.on('error', (err) => logger.error({ err, queue: w.name }, 'worker error'));
    }
    // Connection errors are the workers' to report (above); these handles would repeat them.
    for (const q of Object.values(queues)) q.on('error', () => {});
    logger.info(
      { queue: QUESTIONS_QUEUE, prefix: config.ASKQ_PREFIX, concurrency: questions.concurrency },
      'worker started',
    );
    return new AskqWorker({
      questions,
      ingest,
      guards,
      ports,
      queues,
      connection,
      logger,
      ownsPorts: options.ports === undefined,
    });
  }

  /** Resolves once both BullMQ workers are connected and waiting for jobs. */
  async waitUntilReady(): Promise<void> {
    await Promise.all([this.questions.waitUntilReady(), this.ingest.waitUntilReady()]);
  }

  /**
   * Stops taking jobs and lets active ones finish within `graceMs`; jobs still running then
   * are abandoned to BullMQ's stalled-job recovery (another worker re-runs them).
   */
  close(graceMs = 30_000): Promise<void> {
    this.closing ??= this.doClose(graceMs);
    return this.closing;
  }

  private async doClose(graceMs: number): Promise<void> {
    this.logger.info({ graceMs }, 'worker closing');
    const graceful = Promise.all([this.questions.close(), this.ingest.close()]);
    if ((await within(graceful, graceMs)) === 'timeout') {
      // Cancelling aborts each active job's signal: its provider calls stop, the attempt is
      // given back and the job is put back for another worker (CancelledError).
      this.logger.warn('grace period over; cancelling the jobs still active');
      this.questions.cancelAllJobs('worker shutting down');
      this.ingest.cancelAllJobs('worker shutting down');
      // With Redis gone even that can wait on it: bound it, and leave the rest to stalled-job
      // recovery.
      await within(graceful, 5 * SECOND);
    }
    for (const guard of Object.values(this.guards)) guard.shutdown();
    this.stopObserving();
    await within(
      Promise.all([this.queues.questions.close(), this.queues.ingest.close()]),
      5 * SECOND,
    );
    if (this.ownsPorts) await this.ports.store.close();
    // QUIT waits for Redis; while it is down that would be forever.
    if (this.connection.status === 'ready') {
      await within(this.connection.quit(), 5 * SECOND).catch(() => {});
    }
    this.connection.disconnect();
    this.logger.info('worker closed');
  }
}

/**
 * BullMQ's queue-wide limiter for a requests-per-minute budget, spread over seconds rather
 * than a minute-long window, so the pool never bursts a whole minute's calls at once.
 */
export function rpmLimiter(rpm: number): { max: number; duration: number } {
  if (rpm >= 60) return { max: Math.floor(rpm / 60), duration: SECOND };
  return { max: 1, duration: Math.ceil(MINUTE / rpm) };
}
