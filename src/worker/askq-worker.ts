import { EventEmitter } from 'node:events';

import { Queue, Worker, type WorkerOptions } from 'bullmq';

import { INGEST_QUEUE, QUESTIONS_QUEUE } from '../shared/contracts.ts';
import { DEFAULTS } from '../shared/defaults.ts';
import { assertNoEviction } from '../shared/eviction-check.ts';
import { createLogger, type Logger } from '../shared/logger.ts';
import type { ChatPort, Ports } from '../shared/ports.ts';
import { eventStreamOptions } from '../shared/queue-options.ts';
import { createRedisConnection, type Redis, waitUntilReady } from '../shared/redis.ts';
import { consumerSpans } from '../shared/telemetry/queue-telemetry.ts';
import { SECOND } from '../shared/time.ts';
import { within } from '../shared/within.ts';
import { allowedModels } from './allowed-models.ts';
import { AnswerCache, corpusVersionKey } from './answer-cache.ts';
import {
  type AskqWorkerOptions,
  type ResolvedWorkerOptions,
  resolveWorkerOptions,
} from './askq-worker-options.ts';
import { createAttemptRunner } from './attempt/run-attempt.ts';
import type { RetryPolicy } from './attempt/settle-failure.ts';
import type { BatchLaneDeps } from './batch/batch-lane-deps.ts';
import type { BatchLane, startBatchLane } from './batch/batch-lane-worker.ts';
import { CancelListener } from './cancellation/cancel-listener.ts';
import { releasePendingOnFinish } from './cancellation/release-pending-on-finish.ts';
import { GraderPool } from './grader-pool.ts';
import { answerJob } from './jobs/answer-job.ts';
import { ingestJob } from './jobs/ingest-job.ts';
import { BatchedEmbeddings } from './providers/batched-embeddings.ts';
import { createProviders } from './providers/create-providers.ts';
import { logWorkerErrors } from './redis-outage-log.ts';
import { CallLimits } from './resilience/call-limits.ts';
import {
  createDependencyPolicies,
  type DependencyPolicies,
} from './resilience/dependency-policies.ts';
import { guardGrader, guardPorts, type GuardPortsOptions } from './resilience/guarded-ports.ts';
import { NO_LIMIT, pauseQueue } from './resilience/pause-queue.ts';
import type { AskqWorkerEvents } from './worker-events.ts';
import { attachTelemetry } from './worker-telemetry.ts';

export type { AskqWorkerOptions } from './askq-worker-options.ts';
export { WORKER_DEFAULTS, workerOptionsFromConfig } from './askq-worker-options.ts';
export type { ProviderOptions } from './providers/provider-options.ts';
export { providerOptionsFromConfig } from './providers/provider-options.ts';
export type { BreakerState } from './resilience/breaker-policy.ts';
export type { Dependency } from './resilience/dependency-policies.ts';
export type { AskqWorkerEvents, FailureKind, JobRef } from './worker-events.ts';

/**
 * A worker process's BullMQ workers (questions and ingestion) over one shared Redis
 * connection, with one policy (pause, breaker, timeout) per dependency. Reports what happens
 * as typed events ({@link AskqWorkerEvents}): `worker.on('job:failed', …)`.
 */
export class AskqWorker extends EventEmitter<AskqWorkerEvents> {
  readonly questions: Worker;
  readonly ingest: Worker;
  /** The eval batch lane's worker (`askq eval run --batch`), when the chat model is OpenAI-compatible. */
  readonly batchLane: BatchLane | undefined;
  /** Each dependency's policy, with its breaker. */
  readonly policies: DependencyPolicies;
  /** The raw ports (providers or the ones given). */
  readonly ports: Ports;
  readonly #queues: { questions: Queue; ingest: Queue };
  readonly #connection: Redis;
  readonly #stopErrorLog: () => void;
  readonly #logger: Logger;
  readonly #ownsPorts: boolean;
  readonly #cancels: CancelListener;
  #detachTelemetry: () => void = () => {};
  #closing: Promise<void> | undefined;
  #guard: GuardPortsOptions | undefined;

  private constructor(
    o: ResolvedWorkerOptions,
    logger: Logger,
    connection: Redis,
    ports: Ports,
    ownsPorts: boolean,
    fallbackChat: ChatPort | undefined,
    cancels: CancelListener,
    startLane: typeof startBatchLane | undefined,
  ) {
    super();
    this.#cancels = cancels;
    this.#logger = logger;
    this.#connection = connection;
    this.ports = ports;
    this.#ownsPorts = ownsPorts;
    this.policies = createDependencyPolicies({
      callTimeoutMs: o.callTimeoutMs,
      errorThresholdPercentage: o.breakerErrorPercent,
      volumeThreshold: o.breakerVolume,
      resetTimeoutMs: o.breakerResetMs,
      rollingCountTimeoutMs: o.breakerWindowMs,
      onBreakerState: (dependency, state) => this.emit('breaker:state', { dependency, state }),
    });
    // Queue handles only for the queue-wide rate limit that pauses every worker.
    this.#queues = {
      questions: new Queue(QUESTIONS_QUEUE, {
        connection,
        prefix: o.prefix,
        ...eventStreamOptions(o.eventsMaxLen),
      }),
      ingest: new Queue(INGEST_QUEUE, {
        connection,
        prefix: o.prefix,
        ...eventStreamOptions(o.eventsMaxLen),
      }),
    };
    // Connection errors are the workers' to report; these handles would repeat them.
    for (const q of Object.values(this.#queues)) q.on('error', () => {});
    this.#detachTelemetry = attachTelemetry(this, logger, Object.values(this.#queues));

    const guarded = this.#guardedPorts(o, ports);
    const runner = {
      ports: guarded,
      policy: {
        attempts: o.attempts,
        baseMs: o.backoffMs,
        maxMs: o.backoffMaxMs,
        deadlineMs: o.jobDeadlineMs,
      },
      logger,
      events: this,
    };
    // No BullMQ telemetry on the workers: each processor makes its own consumer span.
    const spans = { captureContent: o.captureContent };
    const common = {
      connection,
      prefix: o.prefix,
      autorun: true,
      maxStartedAttempts: o.maxStartedAttempts,
      lockDuration: o.lockDurationMs,
      stalledInterval: o.stalledIntervalMs,
      maxStalledCount: o.maxStalledCount,
      // Retention for jobs whose producer set none (a foreign backend's plain add, or askq's
      // client at the default bounds), so Redis memory stays bounded whoever enqueued; a
      // job's own options win.
      removeOnComplete: { count: o.keepCompleted, age: o.keepSeconds },
      removeOnFail: { count: o.keepFailed, age: o.keepSeconds },
    };
    const allowed = allowedModels(o.providers, o.allowedModels, ports.grader?.model);
    const guardOptions = this.#guardOptions(o);
    const graders = new GraderPool(
      ports.grader ? guardGrader(ports.grader, this.policies.grader, guardOptions) : undefined,
      o.providers.grader,
      allowed,
    );
    const graderFor = async (model: string | undefined) => {
      const grader = await graders.forJob(model);
      // A job's own grader model goes behind the same policy as the configured one.
      return grader && grader.model !== ports.grader?.model
        ? guardGrader(grader, this.policies.grader, guardOptions)
        : grader;
    };
    const answer = answerJob({
      allowedModels: allowed,
      graderFor,
      defaultNamespace: o.namespace,
      defaultTopK: o.topK,
      sourceTextChars: o.sourceTextChars,
      retrievalFallback: o.retrievalFallback,
      ...(fallbackChat
        ? { chatFallback: { chat: fallbackChat, afterMs: o.chatFallbackAfterMs } }
        : {}),
      ...(o.cache
        ? {
            cache: new AnswerCache({
              redis: connection,
              prefix: o.prefix,
              ttlSeconds: o.cacheTtlSeconds,
            }),
          }
        : {}),
    });
    this.questions = new Worker(
      QUESTIONS_QUEUE,
      consumerSpans(
        QUESTIONS_QUEUE,
        createAttemptRunner(answer, {
          ...runner,
          pauseQueue: (ms) => pauseQueue(connection, this.#queues.questions, ms),
          wasCancelled: (job) => cancels.wasCancelled(job),
        }),
        spans,
      ),
      {
        ...common,
        concurrency: o.concurrency,
        // ASKQ_LLM_RPM is taken at each model call (#guardOptions), not at job start: a job
        // answered from the cache calls no model, a graded one calls several.
        limiter: NO_LIMIT,
      },
    );
    const ingest = ingestJob({
      defaultNamespace: o.namespace,
      bumpCorpus: async (ns) => {
        await connection.incr(corpusVersionKey(o.prefix, ns));
      },
    });
    this.ingest = new Worker(
      INGEST_QUEUE,
      consumerSpans(
        INGEST_QUEUE,
        createAttemptRunner(ingest, {
          ...runner,
          pauseQueue: (ms) => pauseQueue(connection, this.#queues.ingest, ms),
        }),
        spans,
      ),
      // Ingest batches are large; a few at a time keeps the vector store's writes sane.
      { ...common, concurrency: o.ingestConcurrency, limiter: NO_LIMIT },
    );
    this.batchLane = startLane
      ? this.#startBatchLane(startLane, o, connection, ports, runner, common, {
          allowedModels: allowed,
          graderFor,
        })
      : undefined;
    this.#stopErrorLog = logWorkerErrors(
      [this.questions, this.ingest, ...(this.batchLane ? [this.batchLane.worker] : [])],
      connection,
      logger,
    );
    cancels.watch(this.questions);
    // A batch case retrieving when its run is cancelled is aborted like a question.
    if (this.batchLane) cancels.watch(this.batchLane.worker);
    releasePendingOnFinish(this.questions, connection, o.prefix, logger);
  }

  /**
   * Connects, refuses to start unless Redis's maxmemory-policy is `noeviction`, builds the
   * providers (unless `ports` are given) and starts taking jobs.
   */
  static async start(options: AskqWorkerOptions = {}): Promise<AskqWorker> {
    const o = resolveWorkerOptions(options);
    // The batch lane runs where chat goes to an OpenAI-compatible server (the Batch API is on
    // the same server); elsewhere its module, and the openai SDK it brings, is not loaded:
    // about 50 ms of a local worker's start. Before anything is opened, so a failed import
    // leaves nothing behind.
    const startLane =
      o.providers.llm === 'openai'
        ? (await import('./batch/batch-lane-worker.ts')).startBatchLane
        : undefined;
    const logger = o.logger ?? createLogger({ level: o.logLevel, name: 'askq-worker' });
    const connection = createRedisConnection(o.redis ?? o.redisUrl, 'worker');
    try {
      await waitUntilReady(connection, 10 * SECOND);
      await assertNoEviction(connection, { skip: o.skipEvictionCheck });
    } catch (err) {
      connection.disconnect();
      throw err;
    }
    const ports = o.ports ?? (await createProviders(o.providers, logger));
    const cancels = await CancelListener.start({ connection, prefix: o.prefix, logger });
    // Loaded only when asked for, like any provider.
    const fallbackChat =
      o.chatFallback === 'extractive'
        ? new (await import('./providers/local/extractive-chat.ts')).ExtractiveChat()
        : undefined;
    const worker = new AskqWorker(
      o,
      logger,
      connection,
      ports,
      o.ports === undefined,
      fallbackChat,
      cancels,
      startLane,
    );
    logger.info(
      { queue: QUESTIONS_QUEUE, prefix: o.prefix, concurrency: worker.questions.concurrency },
      'worker started',
    );
    return worker;
  }

  /**
   * The eval batch lane's worker, when chat goes to an OpenAI-compatible server (the Batch
   * API is on the same server, with the same key), started with `start` (its module, loaded
   * only for such a server).
   */
  #startBatchLane(
    start: typeof startBatchLane,
    o: ResolvedWorkerOptions,
    connection: Redis,
    ports: Ports,
    runner: { ports: Ports; policy: RetryPolicy; logger: Logger },
    common: Omit<WorkerOptions, 'connection'>,
    scoring: Pick<BatchLaneDeps, 'allowedModels' | 'graderFor'>,
  ): BatchLane | undefined {
    // `start` is given only when llm is 'openai', which resolves with its settings.
    const openai = o.providers.openai;
    if (!openai) return undefined;
    return start(
      {
        connection,
        prefix: o.prefix,
        ttlSeconds: o.keepSeconds,
        openai: { apiKey: openai.apiKey, ...(openai.baseURL ? { baseURL: openai.baseURL } : {}) },
        settings: o.batchLane,
        ports: runner.ports,
        chat: ports.chat,
        policy: runner.policy,
        logger: runner.logger,
        events: this,
        defaultNamespace: o.namespace,
        defaultTopK: o.topK,
        sourceTextChars: o.sourceTextChars,
        eventsMaxLen: o.eventsMaxLen,
        retrievalFallback: o.retrievalFallback,
        wasCancelled: (job) => this.#cancels.wasCancelled(job),
        captureContent: o.captureContent,
        ...scoring,
      },
      { ...common, concurrency: o.concurrency },
    );
  }

  /**
   * Every call through its dependency's policy and span; remote embeddings queries of
   * concurrent jobs share one request above that, so a shared request passes the breaker once.
   */
  #guardedPorts(o: ResolvedWorkerOptions, ports: Ports): Ports {
    const guarded = guardPorts(ports, this.policies, this.#guardOptions(o));
    // Only over the network: an in-process model gains nothing from waiting for others.
    if (o.embedBatchWaitMs === 0 || ports.embeddings.serverAddress === undefined) return guarded;
    return {
      ...guarded,
      embeddings: new BatchedEmbeddings(guarded.embeddings, {
        maxWaitMs: o.embedBatchWaitMs,
        maxBatchSize: o.embedBatchSize,
      }),
    };
  }

  #guardOptions(o: ResolvedWorkerOptions): GuardPortsOptions {
    this.#guard ??= {
      events: this,
      captureContent: o.captureContent,
      ...(o.llmRpm || o.llmTpm
        ? {
            limits: new CallLimits({
              redis: this.#connection,
              prefix: o.prefix,
              ...(o.llmRpm ? { requestsPerMinute: o.llmRpm } : {}),
              ...(o.llmTpm ? { tokensPerMinute: o.llmTpm } : {}),
              // A turn further away than a call may take is not waited for: the job goes back
              // to the queue, paused for the excess, its attempt given back.
              maxWaitMs: o.callTimeoutMs,
            }),
          }
        : {}),
    };
    return this.#guard;
  }

  /**
   * Emits an event; a listener that throws is logged, never allowed to fail the job that
   * reported it.
   */
  override emit<K extends keyof AskqWorkerEvents>(event: K, ...args: AskqWorkerEvents[K]): boolean {
    try {
      return (super.emit as (e: K, ...a: AskqWorkerEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      this.#logger.error({ err, event }, 'a worker event listener threw');
      return true;
    }
  }

  /** Resolves once both BullMQ workers are connected and waiting for jobs. */
  async waitUntilReady(): Promise<void> {
    await Promise.all([
      this.questions.waitUntilReady(),
      this.ingest.waitUntilReady(),
      this.batchLane?.worker.waitUntilReady(),
    ]);
  }

  /**
   * Stops taking jobs and lets active ones finish within `graceMs`; jobs still running then
   * are abandoned to BullMQ's stalled-job recovery (another worker re-runs them).
   */
  close(graceMs: number = DEFAULTS.shutdownGraceMs): Promise<void> {
    this.#closing ??= this.#close(graceMs);
    return this.#closing;
  }

  async #close(graceMs: number): Promise<void> {
    this.#logger.info({ graceMs }, 'worker closing');
    const graceful = Promise.all([
      this.questions.close(),
      this.ingest.close(),
      this.batchLane?.worker.close(),
    ]);
    if ((await within(graceful, graceMs)) === 'timeout') {
      // Cancelling aborts each active job's signal: its provider calls stop, the attempt is
      // given back and the job is put back for another worker (CancelledError).
      this.#logger.warn('grace period over; cancelling the jobs still active');
      this.questions.cancelAllJobs('worker shutting down');
      this.ingest.cancelAllJobs('worker shutting down');
      this.batchLane?.worker.cancelAllJobs('worker shutting down');
      // With Redis gone even that can wait on it: bound it, and leave the rest to stalled-job
      // recovery.
      await within(graceful, 5 * SECOND);
    }
    await this.#cancels.close();
    for (const policy of Object.values(this.policies)) policy.breaker.shutdown();
    this.#detachTelemetry();
    this.#stopErrorLog();
    await within(
      Promise.all([
        this.#queues.questions.close(),
        this.#queues.ingest.close(),
        this.batchLane?.queue.close(),
      ]),
      5 * SECOND,
    );
    if (this.#ownsPorts) await this.ports.store.close();
    // QUIT waits for Redis; while it is down that would be forever.
    if (this.#connection.status === 'ready') {
      await within(this.#connection.quit(), 5 * SECOND).catch(() => {});
    }
    this.#connection.disconnect();
    this.#logger.info('worker closed');
  }
}
