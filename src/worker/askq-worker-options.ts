import type { Config } from '../shared/config.ts';
import { DEFAULTS } from '../shared/defaults.ts';
import type { Logger } from '../shared/logger.ts';
import type { Ports } from '../shared/ports.ts';
import { redisSettingsFrom, type RedisTarget } from '../shared/redis-settings.ts';
import type { BatchLaneSettings } from './batch/batch-lane-deps.ts';
import type { ProviderOptions } from './providers/provider-options.ts';
import { providerOptionsFromConfig } from './providers/provider-options.ts';

type LogLevel = Config['LOG_LEVEL'];

/** Options of {@link AskqWorker.start}; every one has a default (src/shared/defaults.ts). */
export interface AskqWorkerOptions {
  /** Redis URL; ignored when `redis` is given. @defaultValue redis://127.0.0.1:6379 */
  redisUrl?: string;
  /**
   * Where Redis is, in any mode (standalone, cluster, Sentinel), as `redisSettingsFrom`
   * reads it from the environment; wins over `redisUrl`. @defaultValue `redisUrl`
   */
  redis?: RedisTarget;
  /**
   * Start without checking `maxmemory-policy` (managed services that hide `CONFIG GET`).
   * @defaultValue false
   */
  skipEvictionCheck?: boolean;
  /** BullMQ key prefix. @defaultValue askq */
  prefix?: string;
  /** @defaultValue a pino logger at `logLevel` named askq-worker */
  logger?: Logger;
  /** Level of the default logger. @defaultValue info */
  logLevel?: LogLevel;
  /** Providers to build when `ports` is not given. @defaultValue all local */
  providers?: ProviderOptions;
  /** Ports to use instead of building providers (tests, benchmarks, embedders). */
  ports?: Ports;
  /** Questions this process answers at once. @defaultValue 10 */
  concurrency?: number;
  /** Ingest batches this process embeds at once. @defaultValue 2 */
  ingestConcurrency?: number;
  /** Attempts per job, the first included, whatever the producer set. @defaultValue 10 */
  attempts?: number;
  /** Times a job may be started at all (attempts, pauses, stall recoveries). @defaultValue 1000 */
  maxStartedAttempts?: number;
  /** A job running longer than this across its attempts fails. @defaultValue 1800000 (30 min) */
  jobDeadlineMs?: number;
  /** First retry delay; doubles each attempt, with jitter. @defaultValue 1000 */
  backoffMs?: number;
  /** Upper bound of one retry delay. @defaultValue 60000 */
  backoffMaxMs?: number;
  /** Timeout of one provider call, body included. @defaultValue 30000 */
  callTimeoutMs?: number;
  /** Breaker: failure percentage that opens it. @defaultValue 50 */
  breakerErrorPercent?: number;
  /** Breaker: calls in the rolling window before it may open. @defaultValue 5 */
  breakerVolume?: number;
  /** Breaker: length of its rolling window. @defaultValue 10000 */
  breakerWindowMs?: number;
  /** Breaker: time open before a half-open trial. @defaultValue 30000 */
  breakerResetMs?: number;
  /** `degrade`: answer without context when retrieval is down after its retries. @defaultValue retry */
  retrievalFallback?: 'retry' | 'degrade';
  /** `extractive`: answer from the sources when the chat model is down for good. @defaultValue none */
  chatFallback?: 'none' | 'extractive';
  /** How long an open chat breaker or rate limit may hold a job up before it degrades. @defaultValue 10000 */
  chatFallbackAfterMs?: number;
  /** Namespace when a job names none. @defaultValue default */
  namespace?: string;
  /** Sources per question when a job names none. @defaultValue 4 */
  topK?: number;
  /**
   * Characters of each source's chunk text a result carries, unless the job asks for
   * `sourceText: "full"`; 0 for none. @defaultValue 300
   */
  sourceTextChars?: number;
  /** Entries kept in each queue's BullMQ events stream. @defaultValue 1000 */
  eventsMaxLen?: number;
  /** A job's lock; not renewed for this long, it is stalled. @defaultValue 30000 */
  lockDurationMs?: number;
  /** How often to look for stalled jobs. @defaultValue 30000 */
  stalledIntervalMs?: number;
  /** Stall recoveries before a job fails. @defaultValue 2 */
  maxStalledCount?: number;
  /** Completed jobs kept (for jobs whose producer set no retention). @defaultValue 10000 */
  keepCompleted?: number;
  /** Failed jobs kept. @defaultValue 50000 */
  keepFailed?: number;
  /** Seconds a finished job is kept at most. @defaultValue 604800 (7 days) */
  keepSeconds?: number;
  /** Answer cache in Redis. @defaultValue false */
  cache?: boolean;
  /** Seconds a cached answer is kept. @defaultValue 86400 */
  cacheTtlSeconds?: number;
  /** Chat requests per minute across all workers. @defaultValue unlimited */
  llmRpm?: number;
  /** Tokens per minute across all workers. @defaultValue unlimited */
  llmTpm?: number;
  /** Longest a remote embeddings query waits to share a request; 0 turns batching off. @defaultValue 5 */
  embedBatchWaitMs?: number;
  /** Most queries in one shared embeddings request. @defaultValue 64 */
  embedBatchSize?: number;
  /** Record question and answer text on spans. @defaultValue false */
  captureContent?: boolean;
  /**
   * Models a job may name (an eval variant's `model`, `--grader`) besides the chat, fallback
   * and grader models. @defaultValue none
   */
  allowedModels?: string[];
  /**
   * The eval batch lane (`askq eval run --batch`): polling, gathering and file size. It runs
   * when the chat provider is OpenAI-compatible. @defaultValue the ASKQ_BATCH_* defaults
   */
  batchLane?: Partial<BatchLaneSettings>;
}

/** The options with every default applied. */
export type ResolvedWorkerOptions = Required<
  Omit<AskqWorkerOptions, 'logger' | 'ports' | 'llmRpm' | 'llmTpm' | 'redis'>
> &
  Pick<AskqWorkerOptions, 'logger' | 'ports' | 'llmRpm' | 'llmTpm' | 'redis'>;

export const WORKER_DEFAULTS = {
  redisUrl: DEFAULTS.redisUrl,
  skipEvictionCheck: DEFAULTS.skipEvictionCheck,
  prefix: DEFAULTS.prefix,
  logLevel: DEFAULTS.logLevel,
  providers: {},
  concurrency: DEFAULTS.concurrency,
  ingestConcurrency: DEFAULTS.ingestConcurrency,
  attempts: DEFAULTS.attempts,
  maxStartedAttempts: DEFAULTS.maxStartedAttempts,
  jobDeadlineMs: DEFAULTS.jobDeadlineMs,
  backoffMs: DEFAULTS.backoffMs,
  backoffMaxMs: DEFAULTS.backoffMaxMs,
  callTimeoutMs: DEFAULTS.callTimeoutMs,
  breakerErrorPercent: DEFAULTS.breakerErrorPercent,
  breakerVolume: DEFAULTS.breakerVolume,
  breakerWindowMs: DEFAULTS.breakerWindowMs,
  breakerResetMs: DEFAULTS.breakerResetMs,
  retrievalFallback: DEFAULTS.retrievalFallback,
  chatFallback: DEFAULTS.chatFallback,
  chatFallbackAfterMs: DEFAULTS.chatFallbackAfterMs,
  namespace: DEFAULTS.namespace,
  topK: DEFAULTS.topK,
  sourceTextChars: DEFAULTS.sourceTextChars,
  eventsMaxLen: DEFAULTS.eventsMaxLen,
  lockDurationMs: DEFAULTS.lockDurationMs,
  stalledIntervalMs: DEFAULTS.stalledIntervalMs,
  maxStalledCount: DEFAULTS.maxStalledCount,
  keepCompleted: DEFAULTS.keepCompleted,
  keepFailed: DEFAULTS.keepFailed,
  keepSeconds: DEFAULTS.keepSeconds,
  cache: DEFAULTS.cache,
  cacheTtlSeconds: DEFAULTS.cacheTtlSeconds,
  embedBatchWaitMs: DEFAULTS.embedBatchWaitMs,
  embedBatchSize: DEFAULTS.embedBatchSize,
  captureContent: DEFAULTS.captureContent,
  allowedModels: [],
  batchLane: {},
} satisfies Omit<ResolvedWorkerOptions, 'logger' | 'ports' | 'llmRpm' | 'llmTpm' | 'redis'>;

/** Applies {@link WORKER_DEFAULTS} to whatever `options` leaves out. */
export function resolveWorkerOptions(options: AskqWorkerOptions): ResolvedWorkerOptions {
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  return { ...WORKER_DEFAULTS, ...given };
}

/** Worker options from the process configuration: the environment, mapped once. */
export function workerOptionsFromConfig(config: Config): AskqWorkerOptions {
  return {
    redisUrl: config.REDIS_URL,
    redis: redisSettingsFrom(config),
    skipEvictionCheck: config.ASKQ_SKIP_EVICTION_CHECK,
    prefix: config.ASKQ_PREFIX,
    logLevel: config.LOG_LEVEL,
    providers: providerOptionsFromConfig(config),
    concurrency: config.ASKQ_CONCURRENCY,
    attempts: config.ASKQ_ATTEMPTS,
    maxStartedAttempts: config.ASKQ_MAX_STARTED_ATTEMPTS,
    jobDeadlineMs: config.ASKQ_JOB_DEADLINE_MS,
    backoffMs: config.ASKQ_BACKOFF_MS,
    backoffMaxMs: config.ASKQ_BACKOFF_MAX_MS,
    callTimeoutMs: config.ASKQ_CALL_TIMEOUT_MS,
    breakerErrorPercent: config.ASKQ_BREAKER_ERROR_PERCENT,
    breakerVolume: config.ASKQ_BREAKER_VOLUME,
    breakerWindowMs: config.ASKQ_BREAKER_WINDOW_MS,
    breakerResetMs: config.ASKQ_BREAKER_RESET_MS,
    retrievalFallback: config.ASKQ_RETRIEVAL_FALLBACK,
    chatFallback: config.ASKQ_CHAT_FALLBACK,
    chatFallbackAfterMs: config.ASKQ_CHAT_FALLBACK_AFTER_MS,
    namespace: config.ASKQ_NAMESPACE,
    topK: config.ASKQ_TOP_K,
    sourceTextChars: config.ASKQ_SOURCE_TEXT_CHARS,
    eventsMaxLen: config.ASKQ_EVENTS_MAX_LEN,
    lockDurationMs: config.ASKQ_LOCK_DURATION_MS,
    stalledIntervalMs: config.ASKQ_STALLED_INTERVAL_MS,
    maxStalledCount: config.ASKQ_MAX_STALLED_COUNT,
    keepCompleted: config.ASKQ_KEEP_COMPLETED,
    keepFailed: config.ASKQ_KEEP_FAILED,
    keepSeconds: config.ASKQ_KEEP_SECONDS,
    cache: config.ASKQ_CACHE,
    cacheTtlSeconds: config.ASKQ_CACHE_TTL,
    ...(config.ASKQ_LLM_RPM ? { llmRpm: config.ASKQ_LLM_RPM } : {}),
    ...(config.ASKQ_LLM_TPM ? { llmTpm: config.ASKQ_LLM_TPM } : {}),
    embedBatchWaitMs: config.ASKQ_EMBED_BATCH_WAIT_MS,
    embedBatchSize: config.ASKQ_EMBED_BATCH_SIZE,
    captureContent: config.ASKQ_CAPTURE_CONTENT,
    allowedModels: config.ASKQ_ALLOWED_MODELS,
    batchLane: {
      pollMs: config.ASKQ_BATCH_POLL_MS,
      pollMaxMs: config.ASKQ_BATCH_POLL_MAX_MS,
      windowMs: config.ASKQ_BATCH_WINDOW_MS,
      gatherMaxMs: config.ASKQ_BATCH_GATHER_MAX_MS,
      maxRequests: config.ASKQ_BATCH_MAX_REQUESTS,
    },
  };
}
