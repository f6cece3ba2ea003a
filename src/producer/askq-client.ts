import { randomUUID } from 'node:crypto';

import { type JobsOptions, Queue, QueueEvents } from 'bullmq';
import pLimit, { type LimitFunction } from 'p-limit';

import type { Config } from '../shared/config.ts';
import {
  ANSWER_JOB,
  type AnswerJobData,
  answerJobDataSchema,
  type AnswerResult,
  formatIssues,
  type JobOrigin,
  ORIGIN_KEY,
  QUESTIONS_QUEUE,
} from '../shared/contracts.ts';
import { DEFAULTS } from '../shared/defaults.ts';
import {
  AskqError,
  isRedisConnectionError,
  RedisUnavailableError,
  ValidationError,
} from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { eventStreamOptions, jobRetention } from '../shared/queue-options.ts';
import { createRedisConnection, type Redis } from '../shared/redis.ts';
import {
  assertClusterPrefix,
  describeRedis,
  redisSettingsFrom,
  type RedisTarget,
} from '../shared/redis-settings.ts';
import { createQueueTelemetry } from '../shared/telemetry/queue-telemetry.ts';
import { MINUTE, SECOND } from '../shared/time.ts';
import { waitForReplicas } from '../shared/wait-replicas.ts';
import { within } from '../shared/within.ts';
import { Admission, ADMISSION_DEFAULTS, estimateJobBytes } from './admission.ts';
import { type CancelOutcome, cancelQuestions } from './cancel-questions.ts';
import { PartialEnqueueError, QuestionFailedError, WaitTimeoutError } from './client-errors.ts';
import { type QuestionState, type QuestionStatus, toStatus } from './question-status.ts';

export { PartialEnqueueError, QuestionFailedError, WaitTimeoutError } from './client-errors.ts';
export { type QuestionState, type QuestionStatus, toStatus } from './question-status.ts';

/**
 * Retention of finished jobs, so Redis memory stays bounded. Put on a job only where it differs
 * from the default; a job without it is kept as its worker's ASKQ_KEEP_* say.
 */
export interface RetentionOptions {
  /** Completed jobs kept. @defaultValue 10000 */
  keepCompleted?: number;
  /** Failed jobs kept. @defaultValue 50000 */
  keepFailed?: number;
  /** Seconds a finished job is kept at most. @defaultValue 604800 (7 days) */
  keepSeconds?: number;
}

export interface AskqClientOptions extends RetentionOptions {
  /** Redis URL; ignored when `connection` is given. @defaultValue redis://127.0.0.1:6379 */
  redisUrl?: string;
  /**
   * Where Redis is, in any mode (standalone, cluster, Sentinel), as {@link redisSettingsFrom}
   * reads it from the environment; wins over `redisUrl`. @defaultValue `redisUrl`
   */
  redis?: RedisTarget;
  /**
   * After each enqueue, wait until this many replicas hold it (Redis `WAIT`); fails with
   * `ReplicaWaitError` when fewer confirm within `waitTimeoutMs`. @defaultValue 0 (off)
   */
  waitReplicas?: number;
  /** Longest one `WAIT` blocks. @defaultValue 1000 */
  waitTimeoutMs?: number;
  /** A connection to share (made with role `producer`); the client does not close it. */
  connection?: Redis;
  /** BullMQ key prefix. @defaultValue askq */
  prefix?: string;
  /** Entries kept in the queue's BullMQ events stream (ASKQ_EVENTS_MAX_LEN). @defaultValue 1000 */
  eventsMaxLen?: number;
  /** Jobs per addBulk call in {@link AskqClient.askMany}. @defaultValue 500 */
  bulkChunkSize?: number;
  /**
   * addBulk calls this client has in flight at once, across concurrent `askMany` calls; the
   * rest wait their turn, first come first served, their jobs not yet built into commands. A
   * chunk's jobs (BullMQ's Job objects, ioredis's commands) live until Redis has run its
   * scripts: sixty-four API batches of 1,000 sent together kept 64,000 alive, and garbage
   * collection took a fifth of the server's CPU. A few at a time keep Redis as busy (it runs
   * one MULTI at a time anyway) for about a fifth less CPU per batch (bench/http-enqueue.ts,
   * issue 16). @defaultValue 4
   */
  maxBulkInFlight?: number;
  /** How often a wait also looks at the job's state, besides listening for events. @defaultValue 2000 */
  pollIntervalMs?: number;
  /**
   * Producer spans (bullmq-otel) with the trace context carried in each job; a no-op until an
   * OpenTelemetry SDK is registered. @defaultValue true
   */
  telemetry?: boolean;
  /**
   * Percent of Redis's `maxmemory` past which new questions are refused with
   * {@link QueueFullError}. @defaultValue 85
   */
  highWaterPercent?: number;
  /** A high-water check to share (the API's, which also feeds /readyz and metrics). @defaultValue one of the client's own */
  admission?: Admission;
  /** Where a batch rolled back after a failure part-way is reported. @defaultValue silent */
  logger?: Pick<Logger, 'warn' | 'error'>;
}

export const ASKQ_CLIENT_DEFAULTS = {
  redisUrl: DEFAULTS.redisUrl,
  prefix: DEFAULTS.prefix,
  waitReplicas: DEFAULTS.redisWaitReplicas,
  waitTimeoutMs: DEFAULTS.redisWaitTimeoutMs,
  bulkChunkSize: 500,
  maxBulkInFlight: 4,
  eventsMaxLen: DEFAULTS.eventsMaxLen,
  pollIntervalMs: 2 * SECOND,
  telemetry: true,
  highWaterPercent: ADMISSION_DEFAULTS.highWaterPercent,
  keepCompleted: DEFAULTS.keepCompleted,
  keepFailed: DEFAULTS.keepFailed,
  keepSeconds: DEFAULTS.keepSeconds,
} satisfies AskqClientOptions;

/** How one question is enqueued, beyond its data. */
export interface EnqueueOptions {
  /** The job id. @defaultValue BullMQ's next number */
  jobId?: string;
  /** BullMQ priority (1 runs first; none runs before any). @defaultValue none */
  priority?: number;
  /** Who enqueued it (the API records this). @defaultValue none */
  origin?: JobOrigin;
}

/** Enqueues questions and fetches answers through BullMQ; for Node backends sharing Redis. */
export class AskqClient {
  readonly queue: Queue;
  /** The connection commands go through (shared or the client's own). */
  readonly connection: Redis;
  /** The high-water check every enqueue passes (memory readings are shared per connection). */
  readonly admission: Admission;
  readonly #target: RedisTarget;
  readonly #ownConnection: Redis | undefined;
  readonly #opts: Required<
    Omit<AskqClientOptions, 'connection' | 'redisUrl' | 'redis' | 'logger' | 'admission'>
  >;
  readonly #logger: Pick<Logger, 'warn' | 'error'> | undefined;
  #events: QueueEvents | undefined;
  #eventsConnection: Redis | undefined;
  /** Admits {@link AskqClientOptions.maxBulkInFlight} addBulk calls at a time. */
  readonly #bulkTurns: LimitFunction;
  /** Every job's retention options: built once, shared (BullMQ only reads them). */
  readonly #retention: Pick<JobsOptions, 'removeOnComplete' | 'removeOnFail'>;

  constructor(options: AskqClientOptions = {}) {
    const { connection, redis, redisUrl, logger, admission, ...rest } = options;
    this.#opts = { ...ASKQ_CLIENT_DEFAULTS, ...stripUndefined(rest) };
    this.#retention = jobRetention(this.#opts);
    const { maxBulkInFlight } = this.#opts;
    if (!Number.isInteger(maxBulkInFlight) || maxBulkInFlight < 1) {
      throw new RangeError(`maxBulkInFlight must be a whole number ≥ 1, got ${maxBulkInFlight}`);
    }
    this.#bulkTurns = pLimit(maxBulkInFlight);
    this.#logger = logger;
    this.#target = redis ?? redisUrl ?? ASKQ_CLIENT_DEFAULTS.redisUrl;
    assertClusterPrefix(this.#target, this.#opts.prefix);
    this.#ownConnection = connection ? undefined : createRedisConnection(this.#target, 'producer');
    this.connection = connection ?? this.#ownConnection!;
    this.admission =
      admission ??
      new Admission(this.connection, { highWaterPercent: this.#opts.highWaterPercent });
    this.queue = new Queue(QUESTIONS_QUEUE, {
      connection: this.connection,
      prefix: this.#opts.prefix,
      ...eventStreamOptions(this.#opts.eventsMaxLen),
      // The producer span; its context travels in the job so the worker's spans join the trace.
      ...(this.#opts.telemetry ? { telemetry: createQueueTelemetry() } : {}),
    });
    this.queue.on('error', () => {});
  }

  /**
   * Validates and enqueues one question; throws {@link ValidationError} on bad input and
   * {@link QueueFullError} while Redis is past its high-water mark.
   */
  async ask(data: AnswerJobData, options: EnqueueOptions = {}): Promise<{ id: string }> {
    const valid = validate(data);
    await this.#redis(() => this.admission.admit(estimateJobBytes([valid]), 1));
    const job = await this.#redis(() =>
      this.queue.add(ANSWER_JOB, withOrigin(valid, options.origin), this.#jobOptions(options)),
    );
    await this.#waitForReplicas();
    return { id: job.id! };
  }

  /**
   * Validates every question first (nothing is enqueued if one is bad), then enqueues in
   * chunks, all or nothing: on a failure part-way (Redis full or gone) what was added is
   * removed before the error is thrown. Only if that removal fails too does it throw
   * {@link PartialEnqueueError} naming the questions still enqueued. `optionsOf(i)` gives the
   * i-th question its id (else a fresh UUID), priority and origin.
   */
  async askMany(
    items: AnswerJobData[],
    optionsOf: (index: number) => EnqueueOptions = () => ({}),
  ): Promise<{ ids: string[] }> {
    return this.askManyValidated(
      items.map((item, i) => validate(item, `item ${i}: `)),
      optionsOf,
    );
  }

  /**
   * {@link AskqClient.askMany} for questions already validated against a schema at least as
   * strict as the contract's (the HTTP API's request schema, checked as the body is read), so
   * a batch is not validated twice.
   */
  async askManyValidated(
    valid: readonly AnswerJobData[],
    optionsOf: (index: number) => EnqueueOptions = () => ({}),
  ): Promise<{ ids: string[] }> {
    // Ids chosen here, before anything is sent, so a failure part-way knows what to take back.
    const jobs = valid.map((data, i) => {
      const options = optionsOf(i);
      const opts = this.#jobOptions(options);
      opts.jobId ??= randomUUID();
      return { name: ANSWER_JOB, data: withOrigin(data, options.origin), opts };
    });
    const ids = jobs.map((job) => job.opts.jobId!);
    const jobBytes = estimateJobBytes(valid);
    // Jobs up to `sent` were sent (or may have been): what a failure takes back.
    let sent = 0;
    for (let i = 0; i < jobs.length; i = sent) {
      try {
        const wanted = Math.min(this.#opts.bulkChunkSize, jobs.length - i);
        // Admitted in its turn, so the room granted is what Redis has when the chunk is sent.
        await this.#bulkTurns(async () => {
          sent = i + (await this.#redis(() => this.admission.admit(jobBytes, wanted)));
          await this.#redis(() => this.queue.addBulk(jobs.slice(i, sent)));
        });
        await this.#waitForReplicas();
      } catch (err) {
        // A chunk is one MULTI, but each job in it is its own script: Redis filling up halfway
        // leaves part of the chunk behind, so this chunk's ids are taken back too.
        await this.#rollBack(ids.slice(0, sent), i, ids.length, err);
      }
    }
    return { ids };
  }

  /**
   * Removes `attempted` (the first `confirmed` of which were acknowledged by Redis), then
   * rethrows `cause`; throws {@link PartialEnqueueError} with the ids still there if any are.
   */
  async #rollBack(
    attempted: string[],
    confirmed: number,
    total: number,
    cause: unknown,
  ): Promise<never> {
    const left = await this.#removeJobs(attempted).catch(() => attempted.slice(0, confirmed));
    if (left.length === 0) {
      if (attempted.length > 0) {
        this.#logger?.warn(
          { questions: total, removed: attempted.length, err: cause },
          'batch failed part-way; removed the questions it had enqueued',
        );
      }
      throw cause;
    }
    this.#logger?.error(
      { questions: total, enqueued: left, err: cause },
      'batch failed part-way and removing its questions failed; these stay enqueued',
    );
    throw new PartialEnqueueError(left, total, cause);
  }

  /** Removes the jobs; resolves with the ids still in Redis (an active job cannot be removed). */
  async #removeJobs(ids: string[]): Promise<string[]> {
    await Promise.all(ids.map((id) => this.queue.remove(id).catch(() => 0)));
    const states = await Promise.all(ids.map((id) => this.queue.getJobState(id)));
    return ids.filter((_, i) => states[i] !== 'unknown');
  }

  /**
   * Resolves with the answer once the question completes; rejects with
   * {@link QuestionFailedError} when it fails and {@link WaitTimeoutError} after `timeoutMs`.
   */
  async waitForAnswer(id: string, options: { timeoutMs?: number } = {}): Promise<AnswerResult> {
    const timeoutMs = options.timeoutMs ?? 5 * MINUTE;
    const job = await this.#redis(() => this.queue.getJob(id));
    if (!job) throw new AskqError(`no question with id ${id}`);
    const events = await this.#queueEvents();
    const stop = new AbortController();
    try {
      return (await Promise.race([
        job.waitUntilFinished(events, timeoutMs),
        this.#pollUntilFinished(id, stop.signal),
      ])) as AnswerResult;
    } catch (err) {
      if (err instanceof QuestionFailedError) throw err;
      const message = err instanceof Error ? err.message : String(err);
      if (/timed out before finishing/i.test(message)) {
        throw new WaitTimeoutError(`question ${id} not answered within ${timeoutMs} ms`, {
          cause: err,
        });
      }
      throw new QuestionFailedError(id, message);
    } finally {
      stop.abort();
    }
  }

  /**
   * A slow safety net under the event stream: a finish event emitted while the event
   * connection was reconnecting (Redis restarted) is never delivered, so look now and then.
   */
  async #pollUntilFinished(id: string, signal: AbortSignal): Promise<AnswerResult> {
    while (!signal.aborted) {
      await sleep(this.#opts.pollIntervalMs, signal);
      if (signal.aborted) break;
      const status = await this.getStatus(id).catch(() => undefined);
      if (status?.state === 'completed') return status.result!;
      if (status?.state === 'failed') throw new QuestionFailedError(id, status.error ?? 'failed');
    }
    // The race was decided elsewhere: settle never (nothing is left pending that holds the loop).
    return new Promise<AnswerResult>(() => {});
  }

  /**
   * Cancels a question: a waiting or delayed one is removed; an active one is aborted by the
   * worker running it (its provider call stops, no retry, it fails with reason `cancelled`).
   * Undefined for an unknown id.
   */
  async cancel(id: string): Promise<CancelOutcome | undefined> {
    return this.#redis(async () => {
      const job = await this.queue.getJob(id);
      if (!job) return undefined;
      const [outcome] = await cancelQuestions(this.queue, this.connection, [job]);
      return outcome;
    });
  }

  /** The question's state, attempts, and result or error; undefined for an unknown id. */
  async getStatus(id: string): Promise<QuestionStatus | undefined> {
    return this.#redis(async () => {
      // State first: a job read before its state could be stale against it (failed, no reason).
      const state = (await this.queue.getJobState(id)) as QuestionState;
      const job = await this.queue.getJob(id);
      if (!job) return undefined;
      return toStatus(job, state);
    });
  }

  /**
   * Runs a Redis call, turning "Redis is down" into a clear {@link RedisUnavailableError} and
   * "Redis is out of memory" into {@link QueueFullError}.
   */
  async #redis<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (!isRedisConnectionError(err)) throw this.admission.fromRedisError(err);
      throw new RedisUnavailableError(
        `Redis is unavailable at ${describeRedis(this.#target)}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  /**
   * Closes the queue, the event listener and the connections the client opened. Bounded, so
   * closing while Redis is down does not hang.
   */
  async close(): Promise<void> {
    if (this.#events) await within(this.#events.close(), 2 * SECOND);
    this.#eventsConnection?.disconnect();
    await within(this.queue.close(), 2 * SECOND);
    if (this.#ownConnection) {
      if (this.#ownConnection.status === 'ready') {
        await within(this.#ownConnection.quit(), 2 * SECOND).catch(() => {});
      }
      this.#ownConnection.disconnect();
    }
  }

  /** `WAIT` on the queue's connection, which made the enqueue's writes (when asked to). */
  async #waitForReplicas(): Promise<void> {
    if (this.#opts.waitReplicas <= 0) return;
    await this.#redis(() =>
      waitForReplicas(this.connection, this.#opts.waitReplicas, this.#opts.waitTimeoutMs),
    );
  }

  #jobOptions(options: EnqueueOptions): JobsOptions {
    const opts: JobsOptions = { ...this.#retention };
    if (options.jobId) opts.jobId = options.jobId;
    if (options.priority) opts.priority = options.priority;
    return opts;
  }

  async #queueEvents(): Promise<QueueEvents> {
    if (!this.#events) {
      // QueueEvents blocks on a stream read, so it needs a connection of its own.
      this.#eventsConnection = createRedisConnection(this.#target, 'worker');
      this.#events = new QueueEvents(QUESTIONS_QUEUE, {
        connection: this.#eventsConnection,
        prefix: this.#opts.prefix,
      });
      this.#events.on('error', () => {});
      await this.#events.waitUntilReady();
    }
    return this.#events;
  }
}

/** Client options from the process configuration (Redis, prefix, retention). */
export function clientOptionsFromConfig(config: Config): AskqClientOptions {
  return {
    redis: redisSettingsFrom(config),
    waitReplicas: config.ASKQ_REDIS_WAIT_REPLICAS,
    waitTimeoutMs: config.ASKQ_REDIS_WAIT_TIMEOUT_MS,
    prefix: config.ASKQ_PREFIX,
    keepCompleted: config.ASKQ_KEEP_COMPLETED,
    keepFailed: config.ASKQ_KEEP_FAILED,
    keepSeconds: config.ASKQ_KEEP_SECONDS,
    eventsMaxLen: config.ASKQ_EVENTS_MAX_LEN,
    highWaterPercent: config.ASKQ_REDIS_HIGH_WATER,
  };
}

/** The job data with the API's origin record, when there is one. */
function withOrigin(data: AnswerJobData, origin: JobOrigin | undefined): Record<string, unknown> {
  return origin ? { ...data, [ORIGIN_KEY]: origin } : data;
}

function validate(data: unknown, context = ''): AnswerJobData {
  const parsed = answerJobDataSchema.safeParse(data);
  if (!parsed.success) throw new ValidationError(`${context}${formatIssues(parsed.error)}`);
  return parsed.data;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Resolves after `ms`, or at once when `signal` aborts (before or while waiting). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
