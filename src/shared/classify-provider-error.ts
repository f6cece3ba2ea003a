import { AskqError, PermanentError, RateLimitedError, TransientError } from './errors.ts';
import { type HeadersLike, parseRetryAfterMs } from './parse-retry-after-ms.ts';

export { parseRetryAfterMs } from './parse-retry-after-ms.ts';

/**
 * Classifies whatever a provider call threw (OpenAI SDK errors, LangChain's wrappings of them,
 * Pinecone SDK errors, LanceDB errors, fetch/undici network errors, aborts) into askq's
 * taxonomy. The message names the dependency and the HTTP status and never carries a secret:
 * key-like strings in a provider's message are redacted. The original stays as `cause`.
 */

/** What the classifier found along an error's `cause` chain. */
interface Facts {
  status: number | undefined;
  headers: HeadersLike | undefined;
  /** `code`, `type`, `error.code`, `error.type`, `lc_error_code` and errno codes. */
  codes: Set<string>;
  /** `name` and constructor names. */
  names: Set<string>;
  /** The outermost non-empty message. */
  message: string;
  /** Every message, for pattern rules. */
  allMessages: string;
}

const PERMANENT_CODES = new Set([
  'insufficient_quota',
  'content_filter',
  'content_policy_violation',
  'invalid_api_key',
  'model_not_found',
  'context_length_exceeded',
]);

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

const TRANSIENT_NAMES = new Set([
  'AbortError',
  'TimeoutError',
  'APIConnectionError',
  'APIConnectionTimeoutError',
  'APIUserAbortError',
  'PineconeConnectionError',
  'PineconeRequestError',
  'PineconeInternalServerError',
  'PineconeUnavailableError',
  'PineconeMaxRetriesExceededError',
  'PineconeTimeoutError',
  'PineconeUnableToResolveHostError',
]);

const PERMANENT_NAMES = new Set([
  'InsufficientQuotaError',
  'RateLimitQuotaExhaustedError',
  'ContentFilterFinishReasonError',
  'ContextOverflowError',
  'PineconeBadRequestError',
  'PineconeAuthorizationError',
  'PineconePaymentRequiredError',
  'PineconeNotFoundError',
  'PineconeConflictError',
  'PineconeFailedPreconditionError',
  'PineconeUnprocessableEntityError',
  'PineconeMethodNotAllowedError',
  'PineconeNotImplementedError',
  'PineconeArgumentError',
  'PineconeConfigurationError',
  'PineconeIndexInitializationFailedError',
  'PineconeIndexTerminatedError',
]);

/** LanceDB reports through messages only (native errors). */
const LANCEDB_PERMANENT =
  /Table '.*' was not found|Table not found|Namespace not found|Table column not found|schema error|LanceError\(Schema\)|LanceError\(Arrow\)|corrupt/i;
const LANCEDB_TRANSIENT = /commit conflict|LanceError\(IO\)|too many open files/i;
const NETWORK_MESSAGE = /fetch failed|socket hang up|other side closed|^terminated$|network error/i;

/** Classifies `err`, thrown by a call to `dependency` (e.g. `chat`, `embeddings`, `pinecone`). */
export function classifyProviderError(err: unknown, dependency: string): AskqError {
  if (err instanceof AskqError) return err;
  const facts = inspect(err);
  const status = facts.status ?? statusFromMessage(facts);
  const describe = (what: string) =>
    `${dependency} ${what}${facts.message ? `: ${redactSecrets(facts.message)}` : ''}`;
  const http = status === undefined ? '' : ` (HTTP ${status})`;

  if (hasAny(facts.codes, PERMANENT_CODES) || hasAny(facts.names, PERMANENT_NAMES)) {
    const code = [...facts.codes].find((c) => PERMANENT_CODES.has(c));
    return new PermanentError(describe(`failed permanently${http}${code ? ` [${code}]` : ''}`), {
      cause: err,
      requestFault: true,
    });
  }
  if (status === 429) {
    return new RateLimitedError(describe(`rate limited${http}`), {
      cause: err,
      retryAfterMs: parseRetryAfterMs(facts.headers),
    });
  }
  if (status !== undefined && isPermanentStatus(status)) {
    return new PermanentError(describe(`failed permanently${http}`), {
      cause: err,
      requestFault: true,
    });
  }
  if (status !== undefined) {
    return new TransientError(describe(`failed${http}`), { cause: err });
  }
  const network = [...facts.codes].find((c) => NETWORK_CODES.has(c));
  if (network) return new TransientError(describe(`unreachable (${network})`), { cause: err });
  const name = [...facts.names].find((n) => TRANSIENT_NAMES.has(n));
  if (name) return new TransientError(describe(`failed (${name})`), { cause: err });
  if (NETWORK_MESSAGE.test(facts.allMessages)) {
    return new TransientError(describe('unreachable'), { cause: err });
  }
  if (LANCEDB_PERMANENT.test(facts.allMessages)) {
    return new PermanentError(describe('failed permanently'), { cause: err });
  }
  if (LANCEDB_TRANSIENT.test(facts.allMessages)) {
    return new TransientError(describe('failed'), { cause: err });
  }
  // Unknown failures are retried: a bounded retry costs less than dropping a good question.
  return new TransientError(describe('failed'), { cause: err });
}

/**
 * 4xx means the request itself is wrong and retrying cannot help, except: 408 (timeout),
 * 409 (OpenAI uses it for lock contention and its own SDK retries it), 425 and 429.
 */
function isPermanentStatus(status: number): boolean {
  return status >= 400 && status < 500 && ![408, 409, 425, 429].includes(status);
}

/** Redacts API-key-like strings, so a provider echoing a key cannot leak it through us. */
export function redactSecrets(text: string): string {
  return text
    .replace(/\b(?:sk|pk|rk|pcsk)[-_][A-Za-z0-9_*-]{6,}/g, '[redacted]')
    .replace(/\b(Bearer|Api-Key:?)\s+\S+/gi, '$1 [redacted]')
    .replace(/[A-Za-z0-9_-]{40,}/g, '[redacted]')
    .slice(0, 500);
}

function hasAny(values: Set<string>, wanted: Set<string>): boolean {
  for (const v of values) if (wanted.has(v)) return true;
  return false;
}

/** Pinecone's unmapped HTTP errors (429 among them) only carry the status in the message. */
function statusFromMessage(facts: Facts): number | undefined {
  if (!facts.names.has('PineconeUnmappedHttpError')) return undefined;
  const match = /Status: (\d{3})/.exec(facts.allMessages);
  return match ? Number(match[1]) : undefined;
}

function inspect(err: unknown): Facts {
  const facts: Facts = {
    status: undefined,
    headers: undefined,
    codes: new Set(),
    names: new Set(),
    message: '',
    allMessages: '',
  };
  const seen = new Set<unknown>();
  let current: unknown = err;
  for (let depth = 0; depth < 10 && isObject(current) && !seen.has(current); depth += 1) {
    seen.add(current);
    const e = current;
    const response = isObject(e.response) ? e.response : undefined;
    const body = isObject(e.error) ? e.error : undefined;
    facts.status ??= firstStatus(e.status, e.statusCode, response?.status);
    facts.headers ??= asHeaders(e.headers) ?? asHeaders(response?.headers);
    for (const code of [e.code, e.type, body?.code, body?.type, e.lc_error_code, e.errno]) {
      if (typeof code === 'string' && code !== '') facts.codes.add(code);
    }
    if (typeof e.name === 'string') facts.names.add(e.name);
    const ctor = (e as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof ctor === 'string') facts.names.add(ctor);
    if (typeof e.message === 'string' && e.message !== '') {
      if (facts.message === '') facts.message = e.message;
      facts.allMessages += `${e.message}\n`;
    }
    current = e.cause;
  }
  if (facts.message === '' && typeof err === 'string') facts.message = facts.allMessages = err;
  return facts;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function firstStatus(...candidates: unknown[]): number | undefined {
  for (const c of candidates) {
    if (typeof c === 'number' && c >= 100 && c < 600) return c;
  }
  return undefined;
}

function asHeaders(value: unknown): HeadersLike | undefined {
  return isObject(value) ? (value as HeadersLike) : undefined;
}
