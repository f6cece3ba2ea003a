import { z } from 'zod';

import { priceTableSchema } from './price-table.ts';
import { MINUTE, SECOND } from './time.ts';

/**
 * Every environment variable askq reads, in one schema. Each entry documents its default; a
 * bad value stops the process at start with every problem listed ({@link ConfigError}).
 */
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

const envSchema = z.object({
  /** Redis connection URL. @defaultValue redis://127.0.0.1:6379 */
  REDIS_URL: z
    .string()
    .default('redis://127.0.0.1:6379')
    .refine((v) => /^rediss?:\/\//.test(v), 'must start with redis:// or rediss://'),
  /** BullMQ key prefix; a hash tag such as `{askq}` for Redis Cluster. @defaultValue askq */
  ASKQ_PREFIX: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[^\s:]+$/, 'must not contain spaces or colons')
    .default('askq'),
  /** Jobs a worker process runs at once. @defaultValue 10 */
  ASKQ_CONCURRENCY: int(1, 10_000).default(10),
  /**
   * Attempts per job, owned by the worker whatever the producer set. Sized so that a provider
   * failing 30% of calls still answers every job (0.3^10 ≈ 6e-6). @defaultValue 10
   */
  ASKQ_ATTEMPTS: int(1, 100).default(10),
  /**
   * Times a job may be started at all (attempts, rate-limit and breaker pauses, stall
   * recoveries), so a job cannot be re-queued forever; high, because a long outage pauses a
   * job many times without its fault (ASKQ_JOB_DEADLINE_MS bounds it in time). @defaultValue 1000
   */
  ASKQ_MAX_STARTED_ATTEMPTS: int(1, 1_000_000).default(1000),
  /** A job running longer than this across its attempts fails with the reason. @defaultValue 1800000 (30 min) */
  ASKQ_JOB_DEADLINE_MS: int(1, 7 * 24 * 60 * MINUTE).default(30 * MINUTE),
  /**
   * When retrieval is down after its retries: `retry` keeps retrying the job; `degrade`
   * answers without context, marked `degraded: true`. @defaultValue retry
   */
  ASKQ_RETRIEVAL_FALLBACK: z.enum(['retry', 'degrade']).default('retry'),
  /** A job's lock; a worker that stops renewing it for this long is considered stalled. @defaultValue 30000 */
  ASKQ_LOCK_DURATION_MS: int(100, 60 * MINUTE).default(30 * SECOND),
  /** How often workers look for stalled jobs. @defaultValue 30000 */
  ASKQ_STALLED_INTERVAL_MS: int(100, 60 * MINUTE).default(30 * SECOND),
  /** Stall recoveries before a job fails. @defaultValue 2 */
  ASKQ_MAX_STALLED_COUNT: int(0, 1000).default(2),
  /** First retry delay; doubles each attempt (equal jitter: between half and all of it). @defaultValue 1000 */
  ASKQ_BACKOFF_MS: int(0, 10 * MINUTE).default(1 * SECOND),
  /** Upper bound of one retry delay. @defaultValue 60000 */
  ASKQ_BACKOFF_MAX_MS: int(0, 60 * MINUTE).default(1 * MINUTE),
  /** Timeout of one provider call (chat, embeddings, vector store), body included. @defaultValue 30000 */
  ASKQ_CALL_TIMEOUT_MS: int(1, 10 * MINUTE).default(30 * SECOND),
  /** Grace period for active jobs on SIGTERM/SIGINT. @defaultValue 30000 */
  ASKQ_SHUTDOWN_GRACE_MS: int(0, 10 * MINUTE).default(30 * SECOND),
  /** Breaker: failure percentage that opens it. @defaultValue 50 */
  ASKQ_BREAKER_ERROR_PERCENT: int(1, 100).default(50),
  /** Breaker: calls in the rolling window before it may open. @defaultValue 5 */
  ASKQ_BREAKER_VOLUME: int(1, 10_000).default(5),
  /** Breaker: length of the rolling window its failure percentage is computed over. @defaultValue 10000 */
  ASKQ_BREAKER_WINDOW_MS: int(100, 60 * MINUTE).default(10 * SECOND),
  /** Breaker: time open before a half-open trial. @defaultValue 30000 */
  ASKQ_BREAKER_RESET_MS: int(10, 60 * MINUTE).default(30 * SECOND),
  /** Sources retrieved per question unless the job says otherwise. @defaultValue 4 */
  ASKQ_TOP_K: int(1, 50).default(4),
  /** Vector store namespace used when a job names none. @defaultValue default */
  ASKQ_NAMESPACE: z.string().min(1).max(128).default('default'),
  /** Ingest chunk size in characters. @defaultValue 800 */
  ASKQ_CHUNK_SIZE: int(50, 20_000).default(800),
  /** Ingest chunk overlap in characters. @defaultValue 100 */
  ASKQ_CHUNK_OVERLAP: int(0, 10_000).default(100),
  /** Completed jobs kept (count); older ones are removed. @defaultValue 10000 */
  ASKQ_KEEP_COMPLETED: int(0, 10_000_000).default(10_000),
  /** Failed jobs kept (count). @defaultValue 50000 */
  ASKQ_KEEP_FAILED: int(0, 10_000_000).default(50_000),
  /** Seconds a finished job is kept at most. @defaultValue 604800 (7 days) */
  ASKQ_KEEP_SECONDS: int(60, 365 * 86_400).default(7 * 86_400),

  /** Chat provider: `openai` or `local`. @defaultValue openai when OPENAI_API_KEY is set, else local */
  ASKQ_LLM: z.enum(['openai', 'local']).optional(),
  /** Embeddings provider: `openai` or `local`. @defaultValue openai when OPENAI_API_KEY is set, else local */
  ASKQ_EMBEDDINGS: z.enum(['openai', 'local']).optional(),
  /** Vector store: `pinecone` or `local`. @defaultValue pinecone when PINECONE_API_KEY is set, else local */
  ASKQ_VECTOR_STORE: z.enum(['pinecone', 'local']).optional(),

  /** OpenAI (or compatible) API key. Secret. */
  OPENAI_API_KEY: optionalString,
  /** Base URL of an OpenAI-compatible server (Ollama, vLLM, LM Studio). @defaultValue the OpenAI API */
  OPENAI_BASE_URL: optionalString.pipe(z.url().optional()),
  /** Chat model. @defaultValue gpt-4o-mini */
  ASKQ_CHAT_MODEL: z.string().min(1).default('gpt-4o-mini'),
  /** Embedding model. @defaultValue text-embedding-3-small */
  ASKQ_EMBEDDING_MODEL: z.string().min(1).default('text-embedding-3-small'),
  /** Embedding dimensions to request (models that support it). @defaultValue the model's own */
  ASKQ_EMBEDDING_DIMENSIONS: int(1, 65_536).optional(),
  /**
   * Longest a remote embeddings query waits to share one request with concurrent jobs'
   * queries (micro-batching); 0 turns batching off. @defaultValue 5
   */
  ASKQ_EMBED_BATCH_WAIT_MS: int(0, 1000).default(5),
  /** Most queries in one shared embeddings request. @defaultValue 64 */
  ASKQ_EMBED_BATCH_SIZE: int(1, 2048).default(64),
  /**
   * Answer cache in Redis: a question asked again on the same corpus, models and settings is
   * answered without calling a model. @defaultValue off
   */
  ASKQ_CACHE: z.enum(['on', 'off']).default('off'),
  /** Seconds a cached answer is kept. @defaultValue 86400 */
  ASKQ_CACHE_TTL: int(1, 365 * 86_400).default(86_400),
  /**
   * Chat requests per minute across all workers (BullMQ's queue-wide limiter), so the pool
   * stays under the provider's limit instead of bouncing off it. @defaultValue unlimited
   */
  ASKQ_LLM_RPM: int(1, 10_000_000).optional(),
  /** Tokens per minute across all workers (a Redis token bucket fed by reported usage). @defaultValue unlimited */
  ASKQ_LLM_TPM: int(1, 1_000_000_000).optional(),
  /** Chat temperature. @defaultValue 0 */
  ASKQ_TEMPERATURE: z.coerce.number().min(0).max(2).default(0),
  /** Max output tokens of one answer. @defaultValue 512 */
  ASKQ_MAX_TOKENS: int(1, 1_000_000).default(512),
  /** A second chat model tried when the first one's call fails (LangChain `withFallbacks`). @defaultValue none */
  ASKQ_FALLBACK_CHAT_MODEL: optionalString,
  /** Base URL of the fallback chat model's server. @defaultValue OPENAI_BASE_URL */
  ASKQ_FALLBACK_OPENAI_BASE_URL: optionalString.pipe(z.url().optional()),
  /** API key of the fallback chat model's server. Secret. @defaultValue OPENAI_API_KEY */
  ASKQ_FALLBACK_OPENAI_API_KEY: optionalString,

  /** Pinecone API key. Secret. */
  PINECONE_API_KEY: optionalString,
  /** Pinecone index name; required with the pinecone store. */
  PINECONE_INDEX: optionalString,
  /** Pinecone index host (skips the describe call; also how tests point at a fake). */
  PINECONE_HOST: optionalString.pipe(z.url().optional()),
  /** Pinecone control plane URL. @defaultValue Pinecone's */
  PINECONE_CONTROLLER_HOST: optionalString.pipe(z.url().optional()),

  /** Folder of the local LanceDB store. @defaultValue .askq/store */
  ASKQ_LOCAL_STORE_DIR: z.string().min(1).default('.askq/store'),
  /** Dimensions of the local hashing embeddings. @defaultValue 1024 */
  ASKQ_LOCAL_EMBEDDING_DIMENSIONS: int(16, 16_384).default(1024),

  /** Port of the HTTP API (`askq serve`). @defaultValue 3000 */
  PORT: int(0, 65_535).default(3000),
  /** Address the HTTP API listens on. @defaultValue 0.0.0.0 */
  ASKQ_HOST: z.string().min(1).default('0.0.0.0'),
  /** Bearer keys the HTTP API accepts, comma-separated, each at least 16 characters. Secret. @defaultValue none (the API refuses to start) */
  ASKQ_API_KEYS: optionalString.transform((v) =>
    (v ?? '')
      .split(',')
      .map((k) => k.trim())
      .filter((k) => k !== ''),
  ),
  /** Lets the HTTP API run without keys (anyone who reaches it may enqueue). @defaultValue false */
  ASKQ_ALLOW_ANONYMOUS: z.stringbool().default(false),
  /** Questions per `POST /v1/questions/batch`. @defaultValue 1000 */
  ASKQ_MAX_BATCH: int(1, 10_000).default(1000),
  /** Largest request body the HTTP API reads, in bytes (a batch); one question's route allows 256 KiB. @defaultValue 8388608 (8 MiB) */
  ASKQ_BODY_LIMIT_BYTES: int(1024, 512 * 1024 * 1024).default(8 * 1024 * 1024),
  /** Requests per API key (per client address when anonymous) in each rate-limit window. @defaultValue 3000 */
  ASKQ_RATE_LIMIT_MAX: int(1, 100_000_000).default(3000),
  /** Rate-limit window. @defaultValue 60000 */
  ASKQ_RATE_LIMIT_WINDOW_MS: int(1, 24 * 60 * MINUTE).default(1 * MINUTE),
  /** Bull Board user (Basic auth); without user and password the board is not mounted. @defaultValue none */
  ASKQ_BOARD_USER: optionalString,
  /** Bull Board password (Basic auth). Secret. @defaultValue none */
  ASKQ_BOARD_PASSWORD: optionalString,
  /** A viewer-only Bull Board: no retry, remove, clean or pause. @defaultValue false */
  ASKQ_BOARD_READ_ONLY: z.stringbool().default(false),
  /** Jaeger UI base URL; Bull Board links each job to its trace there. @defaultValue none (no links) */
  ASKQ_JAEGER_URL: optionalString.pipe(z.url().optional()),

  /**
   * Eval cost estimates: JSON `{ "<model>": { "input": usd, "output": usd } }` per million
   * tokens, over the built-in OpenAI list prices (src/shared/price-table.ts). @defaultValue {}
   */
  ASKQ_EVAL_PRICES: priceTableSchema,
  /** Priority of eval jobs (higher runs later; interactive questions have none and go first). @defaultValue 100 */
  ASKQ_EVAL_PRIORITY: int(1, 2_097_151).default(100),

  /**
   * Record question and answer text on spans (and BullMQ's job-result events). Off by default:
   * content is often personal data. @defaultValue false
   */
  ASKQ_CAPTURE_CONTENT: z
    .enum(['true', 'false', '1', '0'])
    .default('false')
    .transform((v) => v === 'true' || v === '1'),
  /** pino level. @defaultValue info */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

type Env = z.output<typeof envSchema>;

/** The effective configuration: every variable parsed, port selectors resolved. */
export type Config = Omit<Env, 'ASKQ_LLM' | 'ASKQ_EMBEDDINGS' | 'ASKQ_VECTOR_STORE'> & {
  ASKQ_LLM: 'openai' | 'local';
  ASKQ_EMBEDDINGS: 'openai' | 'local';
  ASKQ_VECTOR_STORE: 'pinecone' | 'local';
};

/** Names of the variables whose values are secrets: never printed, logged or traced. */
export const SECRET_KEYS = [
  'OPENAI_API_KEY',
  'PINECONE_API_KEY',
  'ASKQ_FALLBACK_OPENAI_API_KEY',
  'ASKQ_API_KEYS',
  'ASKQ_BOARD_PASSWORD',
] as const;

/** Thrown by {@link loadConfig}; `problems` lists every invalid variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

/** Parses the environment into a {@link Config}, or throws a {@link ConfigError} listing every problem. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const known = Object.fromEntries(
    Object.keys(envSchema.shape).map((k) => [k, emptyToUndefined(env[k])]),
  );
  const parsed = envSchema.safeParse(known);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = String(issue.path[0] ?? '?');
      const secret = (SECRET_KEYS as readonly string[]).includes(key);
      const shown = secret ? '(redacted)' : JSON.stringify(shownValue(known[key]));
      problems.push(`${key}=${shown}: ${issue.message}`);
    }
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  const config: Config = {
    ...e,
    ASKQ_LLM: e.ASKQ_LLM ?? (e.OPENAI_API_KEY ? 'openai' : 'local'),
    ASKQ_EMBEDDINGS: e.ASKQ_EMBEDDINGS ?? (e.OPENAI_API_KEY ? 'openai' : 'local'),
    ASKQ_VECTOR_STORE: e.ASKQ_VECTOR_STORE ?? (e.PINECONE_API_KEY ? 'pinecone' : 'local'),
  };
  if (config.ASKQ_CHUNK_OVERLAP >= config.ASKQ_CHUNK_SIZE)
    problems.push('ASKQ_CHUNK_OVERLAP: must be smaller than ASKQ_CHUNK_SIZE');
  if (config.ASKQ_MAX_STARTED_ATTEMPTS < config.ASKQ_ATTEMPTS)
    problems.push('ASKQ_MAX_STARTED_ATTEMPTS: must not be smaller than ASKQ_ATTEMPTS');
  if (config.ASKQ_FALLBACK_CHAT_MODEL && config.ASKQ_LLM !== 'openai')
    problems.push(
      'ASKQ_FALLBACK_CHAT_MODEL: needs ASKQ_LLM=openai (the local answerer has no fallback)',
    );
  if (config.ASKQ_API_KEYS.some((key) => key.length < 16))
    problems.push('ASKQ_API_KEYS: every key must be at least 16 characters');
  if (Boolean(config.ASKQ_BOARD_USER) !== Boolean(config.ASKQ_BOARD_PASSWORD))
    problems.push(
      'ASKQ_BOARD_USER / ASKQ_BOARD_PASSWORD: set both to mount Bull Board, or neither',
    );
  if (config.ASKQ_BACKOFF_MAX_MS < config.ASKQ_BACKOFF_MS)
    problems.push('ASKQ_BACKOFF_MAX_MS: must not be smaller than ASKQ_BACKOFF_MS');
  if (
    (config.ASKQ_LLM === 'openai' || config.ASKQ_EMBEDDINGS === 'openai') &&
    !config.OPENAI_API_KEY
  )
    problems.push('OPENAI_API_KEY: required when ASKQ_LLM or ASKQ_EMBEDDINGS is openai');
  if (config.ASKQ_VECTOR_STORE === 'pinecone') {
    if (!config.PINECONE_API_KEY)
      problems.push('PINECONE_API_KEY: required with ASKQ_VECTOR_STORE=pinecone');
    if (!config.PINECONE_INDEX)
      problems.push('PINECONE_INDEX: required with ASKQ_VECTOR_STORE=pinecone');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** A value as a problem shows it: a URL's password (`redis://:pw@host`) is a secret too. */
function shownValue(value: string | undefined): string | undefined {
  return value !== undefined && /^[a-z][a-z\d+.-]*:\/\/[^/]*@/i.test(value)
    ? redactUrl(value)
    : value;
}

function emptyToUndefined(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

/** The configuration with secrets and URL passwords replaced, safe to print. */
export function redactConfig(config: Config): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  for (const key of SECRET_KEYS) if (out[key] !== undefined) out[key] = '[redacted]';
  out.REDIS_URL = redactUrl(config.REDIS_URL);
  return out;
}

/** Replaces the password (and a lone username used as password) of a URL. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = 'redacted';
    else if (u.username) u.username = 'redacted';
    return u.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//[redacted]@');
  }
}

/** Every variable the schema knows, for docs and `askq config`. */
export const CONFIG_KEYS = Object.keys(envSchema.shape) as (keyof Env)[];
