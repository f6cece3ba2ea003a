import { Worker } from 'bullmq';

import type { Config } from '../shared/config.ts';
import { INGEST_QUEUE, QUESTIONS_QUEUE } from '../shared/contracts.ts';
import { createLogger, type Logger } from '../shared/logger.ts';
import {
  assertNoEviction,
  createRedisConnection,
  type Redis,
  waitUntilReady,
} from '../shared/redis.ts';
import { createAnswerProcessor } from './processors/answer-processor.ts';
import { createIngestProcessor } from './processors/ingest-processor.ts';
import { createProviders } from './providers/create-providers.ts';
import {
  type BreakerState,
  type Dependency,
  DependencyGuard,
} from './resilience/dependency-guard.ts';
import type { Guards, Ports } from './resilience/guarded-ports.ts';

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
  private readonly connection: Redis;
  private readonly logger: Logger;
  private readonly ownsPorts: boolean;
  private closing: Promise<void> | undefined;

  private constructor(fields: {
    questions: Worker;
    ingest: Worker;
    guards: Guards;
    ports: Ports;
    connection: Redis;
    logger: Logger;
    ownsPorts: boolean;
  }) {
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
      logger,
      ...(options.onBreakerStateChange ? { onStateChange: options.onBreakerStateChange } : {}),
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
    };
    const common = { connection, prefix: config.ASKQ_PREFIX, autorun: true };
    const questions = new Worker(
      QUESTIONS_QUEUE,
      createAnswerProcessor({
        ports,
        guards,
        policy,
        logger,
        defaultNamespace: config.ASKQ_NAMESPACE,
        defaultTopK: config.ASKQ_TOP_K,
      }),
      { ...common, concurrency: options.concurrency ?? config.ASKQ_CONCURRENCY },
    );
    const ingest = new Worker(
      INGEST_QUEUE,
      createIngestProcessor({
        ports,
        guards,
        policy,
        logger,
        defaultNamespace: config.ASKQ_NAMESPACE,
      }),
      // Ingest batches are large; a few at a time keeps the vector store's writes sane.
      { ...common, concurrency: 2 },
    );
    for (const w of [questions, ingest]) {
      w.on('error', (err) => logger.error({ err, queue: w.name }, 'worker error'));
    }
    logger.info(
      { queue: QUESTIONS_QUEUE, prefix: config.ASKQ_PREFIX, concurrency: questions.concurrency },
      'worker started',
    );
    return new AskqWorker({
      questions,
      ingest,
      guards,
      ports,
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
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'expired'>((resolve) => {
      timer = setTimeout(() => resolve('expired'), graceMs);
    });
    const outcome = await Promise.race([graceful.then(() => 'done' as const), expired]);
    clearTimeout(timer);
    if (outcome === 'expired') {
      this.logger.warn('grace period over; closing with jobs still active');
      await Promise.all([this.questions.close(true), this.ingest.close(true)]);
    }
    for (const guard of Object.values(this.guards)) guard.shutdown();
    if (this.ownsPorts) await this.ports.store.close();
    await this.connection.quit().catch(() => this.connection.disconnect());
    this.logger.info('worker closed');
  }
}
