import type { AnswerResult } from '../shared/contracts.ts';
import { formatIssues } from '../shared/contracts.ts';
import {
  AskqError,
  PermanentError,
  QueueFullError,
  RateLimitedError,
  TransientError,
  ValidationError,
} from '../shared/errors.ts';
import { MINUTE, SECOND } from '../shared/time.ts';
import {
  PartialEnqueueError,
  QuestionFailedError,
  type QuestionStatus,
  WaitTimeoutError,
} from './askq-client.ts';
import type { CancelOutcome } from './cancel-questions.ts';
import {
  MAX_WAIT_SECONDS,
  type QuestionRequest,
  questionRequestSchema,
} from './http/api-schemas.ts';

export interface AskqHttpClientOptions {
  /** Where `askq serve` listens, e.g. `http://127.0.0.1:3000`. */
  baseUrl: string;
  /** Bearer key (one of the server's ASKQ_API_KEYS). @defaultValue none: an anonymous server */
  apiKey?: string;
  /** Questions per request in {@link AskqHttpClient.askMany}; at most the server's ASKQ_MAX_BATCH. @defaultValue 1000 */
  batchSize?: number;
  /** Timeout of one request; a long poll adds its wait to it. @defaultValue 30000 */
  requestTimeoutMs?: number;
  /** The fetch to use. @defaultValue globalThis.fetch */
  fetch?: typeof fetch;
}

export const ASKQ_HTTP_CLIENT_DEFAULTS = {
  batchSize: 1000,
  requestTimeoutMs: 30 * SECOND,
} satisfies Partial<AskqHttpClientOptions>;

/**
 * {@link AskqClient}'s API over askq's HTTP API, for Node backends that do not share Redis:
 * the same methods, results and error classes. Bad input throws {@link ValidationError} before
 * anything is sent; 429 throws {@link RateLimitedError} (with the server's Retry-After), a full
 * queue {@link QueueFullError}, other 503s and network failures {@link TransientError}, a
 * refused key {@link PermanentError}.
 */
export class AskqHttpClient {
  readonly #baseUrl: string;
  readonly #apiKey: string | undefined;
  readonly #batchSize: number;
  readonly #requestTimeoutMs: number;
  readonly #fetch: typeof fetch;

  constructor(options: AskqHttpClientOptions) {
    this.#baseUrl = new URL(options.baseUrl).toString().replace(/\/+$/, '');
    this.#apiKey = options.apiKey;
    this.#batchSize = options.batchSize ?? ASKQ_HTTP_CLIENT_DEFAULTS.batchSize;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? ASKQ_HTTP_CLIENT_DEFAULTS.requestTimeoutMs;
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  /**
   * Validates and enqueues one question. With `idempotencyKey` a retried call returns the
   * same id and enqueues nothing new.
   */
  async ask(
    data: QuestionRequest,
    options: { idempotencyKey?: string } = {},
  ): Promise<{ id: string }> {
    const body = validate(data);
    const headers: Record<string, string> = options.idempotencyKey
      ? { 'Idempotency-Key': options.idempotencyKey }
      : {};
    const { id } = (await this.#request('POST', '/v1/questions', { body, headers })) as {
      id: string;
    };
    return { id };
  }

  /**
   * Validates every question first (nothing is sent if one is bad), then sends batches; each
   * batch is all or nothing on the server. When a later batch fails the earlier ones stay
   * enqueued (the API cannot take them back): {@link PartialEnqueueError} names them.
   */
  async askMany(items: QuestionRequest[]): Promise<{ ids: string[] }> {
    const valid = items.map((item, i) => validate(item, `item ${i}: `));
    const ids: string[] = [];
    for (let i = 0; i < valid.length; i += this.#batchSize) {
      const batch = valid.slice(i, i + this.#batchSize);
      try {
        const reply = (await this.#request('POST', '/v1/questions/batch', { body: batch })) as {
          ids: string[];
        };
        ids.push(...reply.ids);
      } catch (err) {
        if (ids.length > 0) throw new PartialEnqueueError(ids, valid.length, err);
        throw err;
      }
    }
    return { ids };
  }

  /** The question's state, attempts, and result or error; undefined for an unknown id. */
  async getStatus(id: string): Promise<QuestionStatus | undefined> {
    return (await this.#request('GET', questionPath(id), { notFound: 'undefined' })) as
      QuestionStatus | undefined;
  }

  /**
   * Resolves with the answer once the question completes, long-polling the server; rejects
   * with {@link QuestionFailedError} when it fails and {@link WaitTimeoutError} after `timeoutMs`.
   */
  async waitForAnswer(id: string, options: { timeoutMs?: number } = {}): Promise<AnswerResult> {
    const timeoutMs = options.timeoutMs ?? 5 * MINUTE;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const remaining = deadline - Date.now();
      // Fractional seconds, so the last poll ends at the deadline rather than spinning.
      const wait = Math.max(0, Math.min(MAX_WAIT_SECONDS, Math.ceil(remaining / 10) / 100));
      const status = (await this.#request('GET', `${questionPath(id)}?wait=${wait}`, {
        extraTimeoutMs: wait * SECOND,
      })) as QuestionStatus | undefined;
      if (!status) throw new AskqError(`no question with id ${id}`);
      if (status.state === 'completed' && status.result) return status.result;
      if (status.state === 'failed') throw new QuestionFailedError(id, status.error ?? 'unknown');
      if (Date.now() >= deadline) {
        throw new WaitTimeoutError(`question ${id} not answered within ${timeoutMs} ms`);
      }
    }
  }

  /**
   * Cancels a question (`DELETE /v1/questions/:id`): a waiting or delayed one is removed, an
   * active one aborted by its worker. Undefined for an unknown id (or one of another key).
   */
  async cancel(id: string): Promise<CancelOutcome | undefined> {
    const reply = (await this.#request('DELETE', questionPath(id), {
      notFound: 'undefined',
      conflict: 'null',
    })) as Omit<CancelOutcome, 'id'> | undefined | null;
    if (reply) return { id, state: reply.state, outcome: reply.outcome };
    if (reply === undefined) return undefined;
    // 409: it had finished already.
    const status = await this.getStatus(id);
    return status ? { id, state: status.state, outcome: 'finished' } : undefined;
  }

  /** Nothing to release (fetch keeps no state the client owns); here for parity with AskqClient. */
  async close(): Promise<void> {}

  async #request(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    options: {
      body?: unknown;
      headers?: Record<string, string>;
      notFound?: 'undefined';
      /** A 409 resolves with null instead of throwing. */
      conflict?: 'null';
      extraTimeoutMs?: number;
    } = {},
  ): Promise<unknown> {
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (this.#apiKey) headers.authorization = `Bearer ${this.#apiKey}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await this.#fetch(`${this.#baseUrl}${path}`, {
        method,
        headers,
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
        signal: AbortSignal.timeout(this.#requestTimeoutMs + (options.extraTimeoutMs ?? 0)),
      });
    } catch (err) {
      throw new TransientError(`askq API unreachable at ${this.#baseUrl}: ${reason(err)}`, {
        cause: err,
      });
    }
    const text = await response.text();
    if (response.ok) return text === '' ? undefined : (JSON.parse(text) as unknown);
    if (response.status === 404 && options.notFound === 'undefined') return undefined;
    if (response.status === 409 && options.conflict === 'null') return null;
    throw problemError(response, text);
  }
}

function questionPath(id: string): string {
  return `/v1/questions/${encodeURIComponent(id)}`;
}

function validate(data: unknown, context = ''): QuestionRequest {
  const parsed = questionRequestSchema.safeParse(data);
  if (!parsed.success) throw new ValidationError(`${context}${formatIssues(parsed.error)}`);
  return parsed.data;
}

/** The client-side error for a problem document (or any non-2xx answer). */
function problemError(response: Response, text: string): AskqError {
  let detail = text.slice(0, 500);
  let type: unknown;
  try {
    const doc = JSON.parse(text) as { detail?: unknown; type?: unknown };
    if (typeof doc.detail === 'string') detail = doc.detail;
    type = doc.type;
  } catch {
    // not a problem document: keep the start of the body
  }
  const message = `askq API answered ${response.status}: ${detail}`;
  const status = response.status;
  const seconds = Number(response.headers.get('retry-after') ?? Number.NaN);
  if (status === 429) {
    return new RateLimitedError(message, {
      ...(Number.isFinite(seconds) ? { retryAfterMs: seconds * SECOND } : {}),
    });
  }
  if (status === 503 && type === 'urn:askq:problem:queue-full') {
    return new QueueFullError(message, {
      retryAfterMs: (Number.isFinite(seconds) ? seconds : 1) * SECOND,
    });
  }
  if (status === 400 || status === 413 || status === 415 || status === 422) {
    return new ValidationError(message);
  }
  if (status >= 500 || status === 408) return new TransientError(message);
  return new PermanentError(message);
}

function reason(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return `${err.message}${cause}`;
  }
  return String(err);
}
