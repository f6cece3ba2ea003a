import type { Config } from '../../shared/config.ts';
import { DEFAULTS } from '../../shared/defaults.ts';
import type { Logger } from '../../shared/logger.ts';
import { redisSettingsFrom, type RedisTarget } from '../../shared/redis-settings.ts';

/** Options of {@link createApiServer}; every one has a default (src/shared/defaults.ts). */
export interface ApiServerOptions {
  /** Redis URL; ignored when `redis` is given. @defaultValue redis://127.0.0.1:6379 */
  redisUrl?: string;
  /**
   * Where Redis is, in any mode (standalone, cluster, Sentinel), as `redisSettingsFrom`
   * reads it from the environment; wins over `redisUrl`. @defaultValue `redisUrl`
   */
  redis?: RedisTarget;
  /** Readiness does not read `maxmemory-policy` (managed services). @defaultValue false */
  skipEvictionCheck?: boolean;
  /** Replicas each enqueue waits for (Redis `WAIT`). @defaultValue 0 (off) */
  waitReplicas?: number;
  /** Longest one `WAIT` blocks. @defaultValue 1000 */
  waitTimeoutMs?: number;
  /** BullMQ key prefix. @defaultValue askq */
  prefix?: string;
  /** @defaultValue a pino logger at `logLevel` named askq-api */
  logger?: Logger;
  /** Level of the default logger. @defaultValue info */
  logLevel?: Config['LOG_LEVEL'];
  /** Bearer keys accepted, each at least 16 characters. @defaultValue none (refuses to build) */
  apiKeys?: string[];
  /**
   * Keys that may also read and cancel every question, whoever enqueued it (foreign
   * producers' jobs included); each at least 16 characters. @defaultValue none
   */
  adminKeys?: string[];
  /** Serve without keys (anyone who reaches it may enqueue). @defaultValue false */
  allowAnonymous?: boolean;
  /** Questions one key may enqueue per minute (a batch counts each); 0 = no quota. @defaultValue 60000 */
  keyQuestionsPerMin?: number;
  /** Unfinished questions one key may have; 0 = no quota. @defaultValue 100000 */
  keyMaxPending?: number;
  /** Priority of eval cases; API questions always get a smaller (earlier) one. @defaultValue 100 */
  evalPriority?: number;
  /** Address `listen()` binds. @defaultValue 0.0.0.0 */
  host?: string;
  /** Port `listen()` binds unless given one. @defaultValue 3000 */
  port?: number;
  /** Questions per `POST /v1/questions/batch`. @defaultValue 1000 */
  maxBatch?: number;
  /** Largest request body read, in bytes. @defaultValue 8388608 (8 MiB) */
  bodyLimitBytes?: number;
  /** Requests per key (per address when anonymous) in each window. @defaultValue 3000 */
  rateLimitMax?: number;
  /** Rate-limit window. @defaultValue 60000 */
  rateLimitWindowMs?: number;
  /** Bull Board behind Basic auth; not mounted without it. @defaultValue not mounted */
  board?: {
    user: string;
    password: string;
    /** No retry, remove, clean or pause. @defaultValue false */
    readOnly?: boolean;
    /** Jaeger UI base URL; jobs link to their traces. @defaultValue no links */
    jaegerUrl?: string;
  };
  /** Completed jobs kept. @defaultValue 10000 */
  keepCompleted?: number;
  /** Failed jobs kept. @defaultValue 50000 */
  keepFailed?: number;
  /** Seconds a finished job is kept at most. @defaultValue 604800 (7 days) */
  keepSeconds?: number;
  /** Entries kept in each queue's BullMQ events stream. @defaultValue 1000 */
  eventsMaxLen?: number;
  /** Percent of Redis's maxmemory past which new questions get 503 queue-full. @defaultValue 85 */
  redisHighWaterPercent?: number;
}

export const API_SERVER_DEFAULTS = {
  redisUrl: DEFAULTS.redisUrl,
  skipEvictionCheck: DEFAULTS.skipEvictionCheck,
  waitReplicas: DEFAULTS.redisWaitReplicas,
  waitTimeoutMs: DEFAULTS.redisWaitTimeoutMs,
  prefix: DEFAULTS.prefix,
  logLevel: DEFAULTS.logLevel,
  apiKeys: [] as string[],
  adminKeys: [] as string[],
  allowAnonymous: DEFAULTS.allowAnonymous,
  keyQuestionsPerMin: DEFAULTS.keyQuestionsPerMin,
  keyMaxPending: DEFAULTS.keyMaxPending,
  evalPriority: DEFAULTS.evalPriority,
  host: DEFAULTS.host,
  port: DEFAULTS.port,
  maxBatch: DEFAULTS.maxBatch,
  bodyLimitBytes: DEFAULTS.bodyLimitBytes,
  rateLimitMax: DEFAULTS.rateLimitMax,
  rateLimitWindowMs: DEFAULTS.rateLimitWindowMs,
  keepCompleted: DEFAULTS.keepCompleted,
  keepFailed: DEFAULTS.keepFailed,
  keepSeconds: DEFAULTS.keepSeconds,
  eventsMaxLen: DEFAULTS.eventsMaxLen,
  redisHighWaterPercent: DEFAULTS.redisHighWaterPercent,
} satisfies Required<Omit<ApiServerOptions, 'logger' | 'board' | 'redis'>>;

/** API options from the process configuration: the environment, mapped once. */
export function apiServerOptionsFromConfig(config: Config): ApiServerOptions {
  return {
    redisUrl: config.REDIS_URL,
    redis: redisSettingsFrom(config),
    skipEvictionCheck: config.ASKQ_SKIP_EVICTION_CHECK,
    waitReplicas: config.ASKQ_REDIS_WAIT_REPLICAS,
    waitTimeoutMs: config.ASKQ_REDIS_WAIT_TIMEOUT_MS,
    prefix: config.ASKQ_PREFIX,
    logLevel: config.LOG_LEVEL,
    apiKeys: config.ASKQ_API_KEYS,
    adminKeys: config.ASKQ_ADMIN_KEYS,
    allowAnonymous: config.ASKQ_ALLOW_ANONYMOUS,
    keyQuestionsPerMin: config.ASKQ_KEY_QUESTIONS_PER_MIN,
    keyMaxPending: config.ASKQ_KEY_MAX_PENDING,
    evalPriority: config.ASKQ_EVAL_PRIORITY,
    host: config.ASKQ_HOST,
    port: config.PORT,
    maxBatch: config.ASKQ_MAX_BATCH,
    bodyLimitBytes: config.ASKQ_BODY_LIMIT_BYTES,
    rateLimitMax: config.ASKQ_RATE_LIMIT_MAX,
    rateLimitWindowMs: config.ASKQ_RATE_LIMIT_WINDOW_MS,
    ...(config.ASKQ_BOARD_USER && config.ASKQ_BOARD_PASSWORD
      ? {
          board: {
            user: config.ASKQ_BOARD_USER,
            password: config.ASKQ_BOARD_PASSWORD,
            readOnly: config.ASKQ_BOARD_READ_ONLY,
            ...(config.ASKQ_JAEGER_URL ? { jaegerUrl: config.ASKQ_JAEGER_URL } : {}),
          },
        }
      : {}),
    keepCompleted: config.ASKQ_KEEP_COMPLETED,
    keepFailed: config.ASKQ_KEEP_FAILED,
    keepSeconds: config.ASKQ_KEEP_SECONDS,
    eventsMaxLen: config.ASKQ_EVENTS_MAX_LEN,
    redisHighWaterPercent: config.ASKQ_REDIS_HIGH_WATER,
  };
}
