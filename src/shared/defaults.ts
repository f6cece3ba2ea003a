import { DAY, HOUR, MINUTE, SECOND } from './time.ts';

/**
 * Every default askq has, written once: the configuration schema (src/shared/config.ts)
 * and the components' options (worker, client, API, providers) read them from here, so an
 * in-process worker built without an environment behaves like `askq worker`.
 */
export const DEFAULTS = {
  redisUrl: 'redis://127.0.0.1:6379',
  prefix: 'askq',
  redisTls: false,
  redisWaitReplicas: 0,
  redisWaitTimeoutMs: 1 * SECOND,
  skipEvictionCheck: false,
  logLevel: 'info',

  // Worker
  concurrency: 10,
  ingestConcurrency: 2,
  attempts: 10,
  maxStartedAttempts: 1000,
  jobDeadlineMs: 30 * MINUTE,
  retrievalFallback: 'retry',
  chatFallback: 'none',
  chatFallbackAfterMs: 10 * SECOND,
  lockDurationMs: 30 * SECOND,
  stalledIntervalMs: 30 * SECOND,
  maxStalledCount: 2,
  backoffMs: 1 * SECOND,
  backoffMaxMs: 1 * MINUTE,
  callTimeoutMs: 30 * SECOND,
  shutdownGraceMs: 30 * SECOND,
  breakerErrorPercent: 50,
  breakerVolume: 5,
  breakerWindowMs: 10 * SECOND,
  breakerResetMs: 30 * SECOND,
  topK: 4,
  sourceTextChars: 300,
  namespace: 'default',
  cache: false,
  cacheTtlSeconds: DAY / SECOND,
  captureContent: false,

  // Retention of finished jobs (worker and producers)
  keepCompleted: 10_000,
  keepFailed: 50_000,
  keepSeconds: (7 * DAY) / SECOND,
  // Entries kept in each queue's BullMQ events stream (what QueueEvents listeners read live)
  eventsMaxLen: 1000,

  // Admission control (producers): percent of Redis maxmemory past which new work is refused
  redisHighWaterPercent: 85,

  // Ingestion
  chunkSize: 800,
  chunkOverlap: 100,
  ingestBatchSize: 64,
  ingestTimeoutMs: 1 * HOUR,
  ingestMaxFileBytes: 50 * 1024 * 1024,
  ingestMaxChunks: 10_000,
  ingestParseTimeoutMs: 1 * MINUTE,
  ingestParseMemoryMb: 512,

  // Providers
  chatModel: 'gpt-4o-mini',
  embeddingModel: 'text-embedding-3-small',
  embedBatchWaitMs: 5,
  embedBatchSize: 64,
  temperature: 0,
  maxTokens: 512,
  localStoreDir: '.askq/store',
  localEmbeddingDimensions: 1024,

  // HTTP API
  port: 3000,
  host: '0.0.0.0',
  maxBatch: 1000,
  bodyLimitBytes: 8 * 1024 * 1024,
  rateLimitMax: 3000,
  rateLimitWindowMs: 1 * MINUTE,
  boardReadOnly: false,
  allowAnonymous: false,
  keyQuestionsPerMin: 60_000,
  keyMaxPending: 100_000,

  // Evaluation
  evalPriority: 100,
  evalMode: 'online',
  // The eval batch lane (`askq eval run --batch`)
  batchPollMs: 15 * SECOND,
  batchPollMaxMs: 5 * MINUTE,
  batchWindowMs: 5 * SECOND,
  batchGatherMaxMs: 2 * MINUTE,
  batchMaxRequests: 50_000,
} as const;
