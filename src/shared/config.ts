import { z } from 'zod';

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
  /** Attempts per question, owned by the worker whatever the producer set. @defaultValue 5 */
  ASKQ_ATTEMPTS: int(1, 100).default(5),
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
  /** Chat temperature. @defaultValue 0 */
  ASKQ_TEMPERATURE: z.coerce.number().min(0).max(2).default(0),
  /** Max output tokens of one answer. @defaultValue 512 */
  ASKQ_MAX_TOKENS: int(1, 1_000_000).default(512),

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
export const SECRET_KEYS = ['OPENAI_API_KEY', 'PINECONE_API_KEY'] as const;

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
