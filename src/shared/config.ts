import { z } from 'zod';

import { DEFAULTS } from './defaults.ts';
import { AskqError } from './errors.ts';
import { priceTableSchema } from './price-table.ts';
import {
  clusterPrefixProblem,
  describeRedis,
  parseHostPorts,
  redactRedisUrl,
  redisSettingsFrom,
} from './redis-settings.ts';
import { MINUTE } from './time.ts';

/**
 * Every environment variable askq reads, in one schema. Each entry carries the description the
 * README's configuration table shows (`npm run docs` writes it from here); the default shown is
 * the schema's own, or `shownDefault` where the default is not a plain value. A bad value stops
 * the process at start with every problem listed ({@link ConfigError}).
 */
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

/** Words every boolean variable accepts, in any case. */
export const TRUE_WORDS = ['true', '1', 'on', 'yes'];
export const FALSE_WORDS = ['false', '0', 'off', 'no'];

/** A boolean variable: `true/false`, `1/0`, `on/off` and `yes/no` alike. */
const bool = () => z.stringbool({ truthy: TRUE_WORDS, falsy: FALSE_WORDS, case: 'insensitive' });

/** What the README's configuration table says of a variable. */
export interface VariableDoc {
  /** One sentence or two: what the variable changes. */
  description: string;
  /** The default as a person reads it, where the schema's default is not the whole story. */
  shownDefault?: string;
}

/** Attaches a variable's {@link VariableDoc} to its schema (zod metadata). */
function doc<T extends z.ZodType>(schema: T, description: string, shownDefault?: string): T {
  return schema.meta({ description, ...(shownDefault !== undefined && { shownDefault }) });
}

const hostPorts = optionalString.transform((v, ctx) => {
  const parsed = parseHostPorts(v ?? '');
  if (typeof parsed === 'string') {
    ctx.addIssue({ code: 'custom', message: parsed });
    return z.NEVER;
  }
  return parsed;
});

const envSchema = z.object({
  REDIS_URL: doc(
    z
      .string()
      .default(DEFAULTS.redisUrl)
      .refine((v) => /^rediss?:\/\//.test(v), 'must start with redis:// or rediss://'),
    'Redis connection URL; Redis must have `maxmemory-policy noeviction` (workers refuse to start otherwise).',
  ),
  ASKQ_REDIS_CLUSTER_NODES: doc(
    hostPorts,
    'Redis Cluster: some of its nodes as `host:port,host:port`; askq discovers the rest. Wins over sentinels and `REDIS_URL`, and needs a hash-tag `ASKQ_PREFIX`.',
    'none',
  ),
  ASKQ_REDIS_SENTINELS: doc(
    hostPorts,
    'Redis Sentinel: the sentinels as `host:port,host:port`; askq asks them for the master. Wins over `REDIS_URL`.',
    'none',
  ),
  ASKQ_REDIS_SENTINEL_NAME: doc(
    optionalString,
    'Master group name the sentinels monitor; required with `ASKQ_REDIS_SENTINELS`.',
    'none',
  ),
  ASKQ_REDIS_SENTINEL_PASSWORD: doc(
    optionalString,
    'Password of the sentinels themselves, when they have one. Secret.',
    'none',
  ),
  ASKQ_REDIS_USERNAME: doc(
    optionalString,
    "Redis ACL user, in every mode (a URL's own user wins).",
    'none',
  ),
  ASKQ_REDIS_PASSWORD: doc(
    optionalString,
    "Redis password, in every mode (a URL's own password wins). Secret.",
    'none',
  ),
  ASKQ_REDIS_TLS: doc(
    z.stringbool().default(DEFAULTS.redisTls),
    'Connect to Redis with TLS in every mode (`rediss://` does it for a URL).',
  ),
  ASKQ_REDIS_WAIT_REPLICAS: doc(
    int(0, 100).default(DEFAULTS.redisWaitReplicas),
    'After each enqueue, wait until this many replicas hold it (Redis `WAIT`), so a master dying right after acknowledging cannot take the job with it. Costs one replication round trip per enqueue call; fails the enqueue (retry with the same job id) when fewer confirm in time.',
    '0 (off)',
  ),
  ASKQ_REDIS_WAIT_TIMEOUT_MS: doc(
    int(1, 1 * MINUTE).default(DEFAULTS.redisWaitTimeoutMs),
    'Longest one `WAIT` blocks.',
  ),
  ASKQ_SKIP_EVICTION_CHECK: doc(
    z.stringbool().default(DEFAULTS.skipEvictionCheck),
    "Skip the start-up check that `maxmemory-policy` is `noeviction`, for managed services that hide `CONFIG GET`; set the policy in the provider's console instead.",
  ),
  ASKQ_PREFIX: doc(
    z
      .string()
      .min(1)
      .max(64)
      .regex(/^[^\s:]+$/, 'must not contain spaces or colons')
      .default(DEFAULTS.prefix),
    'BullMQ key prefix; a hash tag such as `{askq}` for Redis Cluster.',
  ),
  ASKQ_CONCURRENCY: doc(
    int(1, 10_000).default(DEFAULTS.concurrency),
    'Jobs a worker process runs at once (`--concurrency` overrides).',
  ),
  ASKQ_ATTEMPTS: doc(
    int(1, 100).default(DEFAULTS.attempts),
    'Attempts per job, owned by the worker whatever the producer set (rate-limit and breaker pauses do not count). Sized so that a provider failing 30% of calls still answers every job (0.3^10 ≈ 6e-6).',
  ),
  ASKQ_MAX_STARTED_ATTEMPTS: doc(
    int(1, 1_000_000).default(DEFAULTS.maxStartedAttempts),
    'Times a job may be started at all (attempts, rate-limit and breaker pauses, stall recoveries), so a job cannot be re-queued forever; high, because a long outage pauses a job many times without its fault (`ASKQ_JOB_DEADLINE_MS` bounds it in time).',
  ),
  ASKQ_JOB_DEADLINE_MS: doc(
    int(1, 7 * 24 * 60 * MINUTE).default(DEFAULTS.jobDeadlineMs),
    'A job running longer than this across its attempts fails with the reason.',
  ),
  ASKQ_RETRIEVAL_FALLBACK: doc(
    z.enum(['retry', 'degrade']).default(DEFAULTS.retrievalFallback),
    'When retrieval is down after its retries: `retry` keeps retrying the job; `degrade` answers without context, marked `degraded: true`.',
  ),
  ASKQ_CHAT_FALLBACK: doc(
    z.enum(['none', 'extractive']).default(DEFAULTS.chatFallback),
    'When the chat model fails for a reason retrying will not fix in time (the last attempt, the deadline, an open breaker or rate limit lasting `ASKQ_CHAT_FALLBACK_AFTER_MS` for the job, a provider-side permanent error): `none` fails or keeps retrying the job as usual; `extractive` answers with the embedded extractive answerer over the retrieved sources, marked `degraded: true` with a `degradedReason`. Refusals of the request itself (400, 401, insufficient quota) still fail. A job with `degrade: false` is never degraded.',
  ),
  ASKQ_CHAT_FALLBACK_AFTER_MS: doc(
    int(0, 24 * 60 * MINUTE).default(DEFAULTS.chatFallbackAfterMs),
    "With `ASKQ_CHAT_FALLBACK=extractive`: how long an open chat breaker (or a chat rate limit) may hold up a job before it is answered degraded; the breaker's outage counts when longer than the job's own wait, so a job arriving in a long outage is answered at once.",
  ),
  ASKQ_LOCK_DURATION_MS: doc(
    int(100, 60 * MINUTE).default(DEFAULTS.lockDurationMs),
    "A job's lock; a worker that stops renewing it for this long is considered stalled and its jobs are recovered.",
  ),
  ASKQ_STALLED_INTERVAL_MS: doc(
    int(100, 60 * MINUTE).default(DEFAULTS.stalledIntervalMs),
    'How often workers look for stalled jobs.',
  ),
  ASKQ_MAX_STALLED_COUNT: doc(
    int(0, 1000).default(DEFAULTS.maxStalledCount),
    'Stall recoveries before a job fails.',
  ),
  ASKQ_BACKOFF_MS: doc(
    int(0, 10 * MINUTE).default(DEFAULTS.backoffMs),
    'First retry delay; doubles each attempt (equal jitter: between half and all of it).',
  ),
  ASKQ_BACKOFF_MAX_MS: doc(
    int(0, 60 * MINUTE).default(DEFAULTS.backoffMaxMs),
    'Upper bound of one retry delay.',
  ),
  ASKQ_CALL_TIMEOUT_MS: doc(
    int(1, 10 * MINUTE).default(DEFAULTS.callTimeoutMs),
    'Timeout of one provider call (chat, embeddings, vector store), body included; each call has its own `AbortSignal`.',
  ),
  ASKQ_SHUTDOWN_GRACE_MS: doc(
    int(0, 10 * MINUTE).default(DEFAULTS.shutdownGraceMs),
    'Grace period for active jobs on SIGTERM/SIGINT.',
  ),
  ASKQ_BREAKER_ERROR_PERCENT: doc(
    int(1, 100).default(DEFAULTS.breakerErrorPercent),
    'Breaker (one per dependency): failure percentage that opens it.',
  ),
  ASKQ_BREAKER_VOLUME: doc(
    int(1, 10_000).default(DEFAULTS.breakerVolume),
    'Breaker: calls in the rolling window before it may open.',
  ),
  ASKQ_BREAKER_WINDOW_MS: doc(
    int(100, 60 * MINUTE).default(DEFAULTS.breakerWindowMs),
    'Breaker: length of the rolling window its failure percentage is computed over.',
  ),
  ASKQ_BREAKER_RESET_MS: doc(
    int(10, 60 * MINUTE).default(DEFAULTS.breakerResetMs),
    'Breaker: time open before a half-open trial.',
  ),
  ASKQ_TOP_K: doc(
    int(1, 50).default(DEFAULTS.topK),
    'Sources retrieved per question unless the job says otherwise.',
  ),
  ASKQ_SOURCE_TEXT_CHARS: doc(
    int(0, 1_000_000).default(DEFAULTS.sourceTextChars),
    'Characters of each source\'s chunk text an answer carries (`sources[].text`, an excerpt); `0` for none (an empty string). A job with `sourceText: "full"` gets the whole chunk. Scoring always sees the whole chunk.',
  ),
  ASKQ_NAMESPACE: doc(
    z.string().min(1).max(128).default(DEFAULTS.namespace),
    'Vector store namespace used when a job names none.',
  ),
  ASKQ_CHUNK_SIZE: doc(
    int(50, 20_000).default(DEFAULTS.chunkSize),
    'Ingest chunk size in characters.',
  ),
  ASKQ_CHUNK_OVERLAP: doc(
    int(0, 10_000).default(DEFAULTS.chunkOverlap),
    'Ingest chunk overlap in characters; smaller than `ASKQ_CHUNK_SIZE`.',
  ),
  ASKQ_INGEST_MAX_FILE_BYTES: doc(
    int(1, 2 ** 40).default(DEFAULTS.ingestMaxFileBytes),
    'Ingest: larger files are reported and skipped unread.',
    '`52428800` (50 MB)',
  ),
  ASKQ_INGEST_MAX_CHUNKS: doc(
    int(1, 10_000_000).default(DEFAULTS.ingestMaxChunks),
    'Ingest: a document that would have more chunks is reported and skipped.',
  ),
  ASKQ_INGEST_PARSE_TIMEOUT_MS: doc(
    int(100, 60 * MINUTE).default(DEFAULTS.ingestParseTimeoutMs),
    'Ingest: how long parsing one PDF, DOCX or HTML file in the parser thread may take; a slower file is reported and skipped.',
  ),
  ASKQ_INGEST_PARSE_MEMORY_MB: doc(
    int(32, 65_536).default(DEFAULTS.ingestParseMemoryMb),
    'Ingest: heap of the parser thread in MB; a file that needs more (a DOCX zip bomb) is reported and skipped.',
  ),
  ASKQ_KEEP_COMPLETED: doc(
    int(0, 10_000_000).default(DEFAULTS.keepCompleted),
    'Completed jobs kept (count); older ones are removed.',
  ),
  ASKQ_KEEP_FAILED: doc(
    int(0, 10_000_000).default(DEFAULTS.keepFailed),
    'Failed jobs kept (count).',
  ),
  ASKQ_EVENTS_MAX_LEN: doc(
    int(100, 10_000_000).default(DEFAULTS.eventsMaxLen),
    "Entries kept in each queue's BullMQ events stream (trimmed approximately). Only live listeners (QueueEvents) read it: a listener that falls further behind misses events, and askq's own fall back to reading the job. Every askq process writing a queue must use the same value.",
  ),
  ASKQ_KEEP_SECONDS: doc(
    int(60, 365 * 86_400).default(DEFAULTS.keepSeconds),
    'Seconds a finished job is kept at most.',
    '`604800` (7 days)',
  ),
  ASKQ_REDIS_HIGH_WATER: doc(
    z
      .string()
      .default(String(DEFAULTS.redisHighWaterPercent))
      .transform((v) => v.trim().replace(/%$/, ''))
      .pipe(z.coerce.number<string>().min(1).max(100)),
    'Admission control: percent of Redis `maxmemory` (`85` or `85%`) past which producers (API, clients, eval, ingest) refuse new questions (503, `QueueFullError`, exit 3), so completions and retries keep room.',
  ),

  ASKQ_LLM: doc(
    z.enum(['openai', 'local']).optional(),
    'Chat provider: `openai` (any OpenAI-compatible server) or `local` (an extractive answerer).',
    '`openai` when `OPENAI_API_KEY` is set, else `local`',
  ),
  ASKQ_EMBEDDINGS: doc(
    z.enum(['openai', 'local']).optional(),
    'Embeddings provider: `openai` or `local` (hashing embeddings).',
    '`openai` when `OPENAI_API_KEY` is set, else `local`',
  ),
  ASKQ_VECTOR_STORE: doc(
    z.enum(['pinecone', 'local']).optional(),
    'Vector store: `pinecone` or `local` (LanceDB on disk).',
    '`pinecone` when `PINECONE_API_KEY` is set, else `local`',
  ),

  OPENAI_API_KEY: doc(
    optionalString,
    'OpenAI (or compatible) API key. Secret: never printed or logged.',
    'none',
  ),
  OPENAI_BASE_URL: doc(
    optionalString.pipe(z.url().optional()),
    'Base URL of an OpenAI-compatible server (Ollama, vLLM, LM Studio).',
    'the OpenAI API',
  ),
  ASKQ_CHAT_MODEL: doc(z.string().min(1).default(DEFAULTS.chatModel), 'Chat model.'),
  ASKQ_EMBEDDING_MODEL: doc(z.string().min(1).default(DEFAULTS.embeddingModel), 'Embedding model.'),
  ASKQ_EMBEDDING_DIMENSIONS: doc(
    int(1, 65_536).optional(),
    'Embedding dimensions to request (models that support it).',
    "the model's own",
  ),
  ASKQ_EMBED_BATCH_WAIT_MS: doc(
    int(0, 1000).default(DEFAULTS.embedBatchWaitMs),
    "Longest a remote embeddings query waits to share one request with concurrent jobs' queries (micro-batching); `0` turns batching off.",
  ),
  ASKQ_EMBED_BATCH_SIZE: doc(
    int(1, 2048).default(DEFAULTS.embedBatchSize),
    'Most queries in one shared embeddings request.',
  ),
  ASKQ_CACHE: doc(
    bool().default(DEFAULTS.cache),
    'Answer cache in Redis: a question asked again on the same corpus, models and settings is answered without calling a model (`cached: true`).',
  ),
  ASKQ_CACHE_TTL: doc(
    int(1, 365 * 86_400).default(DEFAULTS.cacheTtlSeconds),
    'Seconds a cached answer is kept.',
  ),
  ASKQ_LLM_RPM: doc(
    int(1, 10_000_000).optional(),
    "Model requests per minute across all workers (chat and grader calls, eval-batch's online ones included), taken at each call: calls are spaced `60000 / rpm` ms apart, plus 5 % for the varying time a call takes to reach the provider, through a Redis script shared by every worker, so no provider window, however aligned, gets more than its share. A call waits for its turn (its job's cancellation stops the wait); a turn more than `ASKQ_CALL_TIMEOUT_MS` away is not waited for: the job goes back to the queue, paused for the excess, its attempt given back.",
    'unlimited',
  ),
  ASKQ_LLM_TPM: doc(
    int(1, 1_000_000_000).optional(),
    "Tokens per minute across all workers (a Redis token bucket holding one minute's tokens). Each chat and grader call is charged before it goes with an estimate (its prompt's text at ~4 characters a token, 1 per CJK character, plus its max tokens) and waits while the bucket cannot cover it, as for `ASKQ_LLM_RPM`; the call's reported usage then corrects the charge (a failed call keeps its prompt estimate).",
    'unlimited',
  ),
  ASKQ_TEMPERATURE: doc(
    z.coerce.number().min(0).max(2).default(DEFAULTS.temperature),
    'Chat temperature.',
  ),
  ASKQ_MAX_TOKENS: doc(
    int(1, 1_000_000).default(DEFAULTS.maxTokens),
    'Max output tokens of one answer.',
  ),
  ASKQ_FALLBACK_CHAT_MODEL: doc(
    optionalString,
    "A second chat model tried when the first one's call fails (LangChain `withFallbacks`); needs `ASKQ_LLM=openai`.",
    'none',
  ),
  ASKQ_FALLBACK_OPENAI_BASE_URL: doc(
    optionalString.pipe(z.url().optional()),
    "Base URL of the fallback chat model's server.",
    '`OPENAI_BASE_URL`',
  ),
  ASKQ_FALLBACK_OPENAI_API_KEY: doc(
    optionalString,
    "API key of the fallback chat model's server. Secret.",
    '`OPENAI_API_KEY`',
  ),
  ASKQ_GRADER_MODEL: doc(
    optionalString,
    'Grader model for `judge` and the RAG metrics (OpenAI-compatible, structured output); without one `judge` errors and the RAG metrics are lexical.',
    'none',
  ),
  ASKQ_GRADER_BASE_URL: doc(
    optionalString.pipe(z.url().optional()),
    "Base URL of the grader's server.",
    '`OPENAI_BASE_URL`',
  ),
  ASKQ_GRADER_API_KEY: doc(
    optionalString,
    "API key of the grader's server. Secret.",
    '`OPENAI_API_KEY`',
  ),
  ASKQ_ALLOWED_MODELS: doc(
    optionalString.transform((v) =>
      (v ?? '')
        .split(',')
        .map((m) => m.trim())
        .filter((m) => m !== ''),
    ),
    "Models a job may name (an eval variant's `model`, `--grader`) besides the chat, fallback and grader models, comma-separated; any other fails the job at once.",
    'none',
  ),

  PINECONE_API_KEY: doc(optionalString, 'Pinecone API key. Secret.', 'none'),
  PINECONE_INDEX: doc(
    optionalString,
    'Pinecone index name; required with the pinecone store.',
    'none',
  ),
  PINECONE_HOST: doc(
    optionalString.pipe(z.url().optional()),
    'Pinecone index host (skips the describe call; also how tests point at a fake).',
    'looked up from the index name',
  ),
  PINECONE_CONTROLLER_HOST: doc(
    optionalString.pipe(z.url().optional()),
    'Pinecone control plane URL.',
    "Pinecone's",
  ),

  ASKQ_LOCAL_STORE_DIR: doc(
    z.string().min(1).default(DEFAULTS.localStoreDir),
    'Folder of the local LanceDB store.',
  ),
  ASKQ_LOCAL_EMBEDDING_DIMENSIONS: doc(
    int(16, 16_384).default(DEFAULTS.localEmbeddingDimensions),
    'Dimensions of the local hashing embeddings.',
  ),

  PORT: doc(int(0, 65_535).default(DEFAULTS.port), 'Port of the HTTP API (`askq serve`).'),
  ASKQ_HOST: doc(z.string().min(1).default(DEFAULTS.host), 'Address the HTTP API listens on.'),
  ASKQ_API_KEYS: doc(
    optionalString.transform((v) =>
      (v ?? '')
        .split(',')
        .map((k) => k.trim())
        .filter((k) => k !== ''),
    ),
    'Bearer keys the HTTP API accepts, comma-separated, each at least 16 characters. Secret.',
    'none (the API refuses to start)',
  ),
  ASKQ_ADMIN_KEYS: doc(
    optionalString.transform((v) =>
      (v ?? '')
        .split(',')
        .map((k) => k.trim())
        .filter((k) => k !== ''),
    ),
    "Admin bearer keys, comma-separated, each at least 16 characters: they may also read and cancel every question, whoever enqueued it (foreign producers' jobs included). Secret.",
    'none',
  ),
  ASKQ_KEY_QUESTIONS_PER_MIN: doc(
    int(0, 1_000_000_000).default(DEFAULTS.keyQuestionsPerMin),
    'Questions one API key may enqueue per minute, across API processes through Redis (a batch counts each question); `0` turns the quota off.',
  ),
  ASKQ_KEY_MAX_PENDING: doc(
    int(0, 1_000_000_000).default(DEFAULTS.keyMaxPending),
    'Questions of one API key not yet finished (waiting, delayed or active), across API processes through Redis; `0` turns the quota off.',
  ),
  ASKQ_ALLOW_ANONYMOUS: doc(
    bool().default(DEFAULTS.allowAnonymous),
    'Lets the HTTP API run without keys (anyone who reaches it may enqueue).',
  ),
  ASKQ_MAX_BATCH: doc(
    int(1, 10_000).default(DEFAULTS.maxBatch),
    'Questions per `POST /v1/questions/batch`.',
  ),
  ASKQ_BODY_LIMIT_BYTES: doc(
    int(1024, 512 * 1024 * 1024).default(DEFAULTS.bodyLimitBytes),
    "Largest request body the HTTP API reads, in bytes (a batch); one question's route allows 256 KiB.",
    '`8388608` (8 MiB)',
  ),
  ASKQ_RATE_LIMIT_MAX: doc(
    int(1, 100_000_000).default(DEFAULTS.rateLimitMax),
    'Requests per API key (per client address when anonymous) in each rate-limit window, shared by API processes through Redis.',
  ),
  ASKQ_RATE_LIMIT_WINDOW_MS: doc(
    int(1, 24 * 60 * MINUTE).default(DEFAULTS.rateLimitWindowMs),
    'Rate-limit window.',
  ),
  ASKQ_BOARD_USER: doc(
    optionalString,
    'Bull Board user (Basic auth); without user and password the board is not mounted.',
    'none',
  ),
  ASKQ_BOARD_PASSWORD: doc(optionalString, 'Bull Board password (Basic auth). Secret.', 'none'),
  ASKQ_BOARD_READ_ONLY: doc(
    bool().default(DEFAULTS.boardReadOnly),
    'A viewer-only Bull Board: no retry, remove, clean or pause.',
  ),
  ASKQ_JAEGER_URL: doc(
    optionalString.pipe(z.url().optional()),
    'Jaeger UI base URL; Bull Board links each job to its trace there.',
    'none (no links)',
  ),

  ASKQ_EVAL_PRICES: doc(
    priceTableSchema,
    'Eval cost estimates: JSON `{ "<model>": { "input": usd, "output": usd, "batch": { "input": usd, "output": usd } } }` per million tokens (`batch`, the Batch API price, defaults to half), over the built-in OpenAI list prices (src/shared/price-table.ts).',
    'the built-in list prices',
  ),
  ASKQ_EVAL_PRIORITY: doc(
    int(1, 2_097_151).default(DEFAULTS.evalPriority),
    'BullMQ priority of eval jobs (higher runs later; interactive questions have none and go first).',
  ),
  ASKQ_EVAL_MODE: doc(
    z.enum(['online', 'batch']).default(DEFAULTS.evalMode),
    'How `askq eval run` gets its answers: `online` (chat completions) or `batch` (the OpenAI Batch API: half the price, answers within 24 h; same as `--batch`).',
  ),
  ASKQ_BATCH_POLL_MS: doc(
    int(10, 24 * 60 * MINUTE).default(DEFAULTS.batchPollMs),
    'Batch lane: first wait between two status checks of a batch; it doubles up to ASKQ_BATCH_POLL_MAX_MS.',
  ),
  ASKQ_BATCH_POLL_MAX_MS: doc(
    int(10, 24 * 60 * MINUTE).default(DEFAULTS.batchPollMaxMs),
    'Batch lane: longest wait between two status checks of a batch.',
  ),
  ASKQ_BATCH_WINDOW_MS: doc(
    int(10, 60 * MINUTE).default(DEFAULTS.batchWindowMs),
    'Batch lane: a batch is sealed once no new request arrived for this long (or it is full, or ASKQ_BATCH_GATHER_MAX_MS passed), so a run makes few large batches.',
  ),
  ASKQ_BATCH_GATHER_MAX_MS: doc(
    int(10, 24 * 60 * MINUTE).default(DEFAULTS.batchGatherMaxMs),
    'Batch lane: longest a batch waits for more requests before it is submitted.',
  ),
  ASKQ_BATCH_MAX_REQUESTS: doc(
    int(1, 50_000).default(DEFAULTS.batchMaxRequests),
    'Batch lane: requests per batch file; the Batch API allows 50000 (lower it only to test).',
  ),

  ASKQ_CAPTURE_CONTENT: doc(
    bool().default(DEFAULTS.captureContent),
    "Record question and answer text on spans (and BullMQ's job-result events). Off by default: content is often personal data.",
  ),
  ASKQ_METRICS_PORT: doc(
    int(0, 65_535).optional(),
    'Port on which `askq worker` serves its metrics (jobs by outcome, stage latencies, breaker state, `gen_ai` token usage): Prometheus text on `/metrics`, the same figures as JSON on `/metrics.json`.',
    'none (no endpoint; metrics leave only over OTLP)',
  ),
  ASKQ_METRICS_HOST: doc(
    z.string().min(1).default('0.0.0.0'),
    "Address the worker's metrics endpoint listens on.",
  ),
  LOG_LEVEL: doc(
    z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default(DEFAULTS.logLevel),
    'pino log level.',
  ),
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
  'ASKQ_GRADER_API_KEY',
  'ASKQ_API_KEYS',
  'ASKQ_ADMIN_KEYS',
  'ASKQ_BOARD_PASSWORD',
  'ASKQ_REDIS_PASSWORD',
  'ASKQ_REDIS_SENTINEL_PASSWORD',
] as const;

/** Thrown by {@link loadConfig}; `problems` lists every invalid variable. */
export class ConfigError extends AskqError {
  override name = 'ConfigError';
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
  if (config.ASKQ_ADMIN_KEYS.some((key) => key.length < 16))
    problems.push('ASKQ_ADMIN_KEYS: every key must be at least 16 characters');
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
  if (config.ASKQ_GRADER_MODEL && !(config.ASKQ_GRADER_API_KEY ?? config.OPENAI_API_KEY))
    problems.push(
      'ASKQ_GRADER_API_KEY: required with ASKQ_GRADER_MODEL when OPENAI_API_KEY is unset',
    );
  if (config.ASKQ_VECTOR_STORE === 'pinecone') {
    if (!config.PINECONE_API_KEY)
      problems.push('PINECONE_API_KEY: required with ASKQ_VECTOR_STORE=pinecone');
    if (!config.PINECONE_INDEX)
      problems.push('PINECONE_INDEX: required with ASKQ_VECTOR_STORE=pinecone');
  }
  if (config.ASKQ_REDIS_CLUSTER_NODES.length > 0) {
    const problem = clusterPrefixProblem(config.ASKQ_PREFIX);
    if (problem) problems.push(problem);
    if (config.ASKQ_REDIS_SENTINELS.length > 0)
      problems.push('ASKQ_REDIS_SENTINELS: set either cluster nodes or sentinels, not both');
  }
  if (config.ASKQ_REDIS_SENTINELS.length > 0 && !config.ASKQ_REDIS_SENTINEL_NAME)
    problems.push('ASKQ_REDIS_SENTINEL_NAME: required with ASKQ_REDIS_SENTINELS (the master name)');
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
  const redis = redisSettingsFrom(config);
  // Which of the three connection modes is in use, and where it points (no credentials).
  return { ASKQ_REDIS_MODE: redis.mode, ASKQ_REDIS_TARGET: describeRedis(redis), ...out };
}

/** Replaces the password (and a lone username used as password) of a URL. */
export const redactUrl = redactRedisUrl;

/** Every variable the schema knows, for docs and `askq config`. */
export const CONFIG_KEYS = Object.keys(envSchema.shape) as (keyof Env)[];

/** Each variable's schema, in schema order, for the generated docs (`npm run docs`). */
export const CONFIG_SCHEMAS: Readonly<Record<keyof Env, z.ZodType>> = envSchema.shape;
